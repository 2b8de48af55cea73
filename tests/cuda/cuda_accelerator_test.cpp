#include "backends/cuda/cuda_accelerator.h"

#include <gtest/gtest.h>

#include "common/accelerator_conformance.h"
#include "cuda_test_util.h"

namespace vramkit {
namespace {

constexpr std::size_t kMiB = 1 << 20;

TEST(CudaAccelerator, Conformance) {
  VRAMKIT_REQUIRE_CUDA();
  CudaAccelerator cuda(0, 64 * kMiB);
  EXPECT_EQ(cuda.device(), Device::cuda(0));
  conformance::copies_and_conversions_follow_events(cuda);
  conformance::dequantize_matches_the_host(cuda);
  conformance::host_functions_run_in_stream_order(cuda);
  conformance::device_memory_is_capped_and_accounted(cuda, 64 * kMiB);
  EXPECT_GT(cuda.memory_info().total_bytes, 64 * kMiB);
}

TEST(CudaAccelerator, MissingDeviceIsAClearError) {
  EXPECT_THROW(CudaAccelerator(cuda::device_count(), kMiB), ArgumentError);
}

}  // namespace
}  // namespace vramkit
