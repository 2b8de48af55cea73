#include "backends/cuda/cuda_accelerator.h"

#include <gtest/gtest.h>

#include "common/accelerator_conformance.h"
#include "common/test_sizes.h"
#include "cuda_test_util.h"
#include "ops/placement.h"

namespace vramkit {
namespace {

TEST(CudaAccelerator, Conformance) {
  VRAMKIT_REQUIRE_CUDA();
  CudaAccelerator cuda(0, 64 * kMiB);
  EXPECT_EQ(cuda.device(), Device::cuda(0));
  conformance::copies_and_conversions_follow_events(cuda);
  conformance::dequantize_matches_the_host(cuda);
  conformance::host_functions_run_in_stream_order(cuda);
  conformance::device_memory_is_capped_and_accounted(cuda, 64 * kMiB);
}

// The ops on CUDA tensors find the accelerator's CudaDeviceOps through the registry.
TEST(CudaAccelerator, ServesTheOpsOfItsDevice) {
  VRAMKIT_REQUIRE_CUDA();
  CudaAccelerator cuda(0, 64 * kMiB);
  ASSERT_NE(cuda.device_ops(), nullptr);
  EXPECT_EQ(ops::device_ops_for(Device::cuda(0)), cuda.device_ops());
}

TEST(CudaAccelerator, MissingDeviceIsAClearError) {
  EXPECT_THROW(CudaAccelerator(cuda::device_count(), kMiB), ArgumentError);
}

}  // namespace
}  // namespace vramkit
