// The device arena's on-demand backing (backends/cuda/cuda_virtual_memory.h) on a real GPU: pieces mapped as
// the high-water mark grows, usable by copies, and what the driver reports taken follows them. Skips
// without a CUDA device.
#include "backends/cuda/cuda_virtual_memory.h"

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "backends/cuda/cuda_accelerator.h"
#include "backends/cuda/cuda_device.h"
#include "common/test_sizes.h"
#include "cuda_test_util.h"

namespace vramkit::cuda {
namespace {

TEST(CudaVirtualMemory, BacksTheRangeInPiecesThatCopiesCanUse) {
  VRAMKIT_REQUIRE_CUDA();
  VirtualDeviceRange range(0, 512 * kMiB);
  ASSERT_NE(range.base(), nullptr);
  EXPECT_GE(range.size(), 512 * kMiB);
  EXPECT_EQ(range.committed(), 0u);
  EXPECT_EQ(range.commit(1), VirtualDeviceRange::kGrowthStep);
  EXPECT_EQ(range.commit(VirtualDeviceRange::kGrowthStep),
            VirtualDeviceRange::kGrowthStep);  // already backed
  const std::size_t end = 100 * kMiB;
  const std::size_t backed = range.commit(end);
  EXPECT_GE(backed, end);
  EXPECT_LT(backed, end + VirtualDeviceRange::kGrowthStep);
  // The whole backed part, across two pieces, round-trips through the device.
  std::vector<std::uint8_t> host(backed);
  for (std::size_t i = 0; i < host.size(); ++i) host[i] = static_cast<std::uint8_t>(i * 131 + 7);
  ASSERT_EQ(cudaMemcpy(range.base(), host.data(), backed, cudaMemcpyHostToDevice), cudaSuccess);
  std::vector<std::uint8_t> back(backed, 0);
  ASSERT_EQ(cudaMemcpy(back.data(), range.base(), backed, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, host);
}

// The accelerator's arena takes from the GPU what its blocks need, not its whole range.
TEST(CudaVirtualMemory, TheArenaTakesItsHighWaterMarkFromTheDevice) {
  VRAMKIT_REQUIRE_CUDA();
  const std::size_t range = 4096 * kMiB;
  if (device_info(0).free_bytes < range + 1024 * kMiB) GTEST_SKIP() << "needs 5 GiB of free device memory";
  CudaAccelerator cuda(0, range);
  const std::size_t free_before = device_info(0).free_bytes;
  void* p = cuda.device_allocator()->allocate(200 * kMiB);
  const std::size_t taken = free_before - device_info(0).free_bytes;
  const MemoryInfo info = cuda.memory_info();
  EXPECT_EQ(info.total_bytes, range);
  EXPECT_GE(info.committed_bytes, 200 * kMiB);
  EXPECT_LT(info.committed_bytes, 200 * kMiB + VirtualDeviceRange::kGrowthStep + 2 * kMiB);
  EXPECT_GE(taken, 200 * kMiB);
  EXPECT_LT(taken, 512 * kMiB) << "the arena took more than its blocks from the device";
  cuda.device_allocator()->deallocate(p, 200 * kMiB);
}

}  // namespace
}  // namespace vramkit::cuda
