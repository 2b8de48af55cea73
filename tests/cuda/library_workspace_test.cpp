// LibraryWorkspace (ops/cuda/library_workspace.h): the memory cuBLASLt and cuDNN take per launch. From an
// arena (here one over host memory: the class never touches what it hands out), every block is counted while
// it lives and given back exactly once; the arena's cap refuses a block as out of memory. Without an arena, a
// slot's buffer is kept and grown (needs a GPU).
#include "ops/cuda/library_workspace.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>

#include "backends/arena_allocator.h"
#include "cuda_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

// An arena over 1 MiB of host memory, aligned as the arena requires.
struct HostArena {
  static constexpr std::size_t kBytes = std::size_t{1} << 20;
  std::unique_ptr<void, decltype(&std::free)> bytes{std::aligned_alloc(ArenaAllocator::kGranularity, kBytes),
                                                    &std::free};
  std::shared_ptr<ArenaAllocator> arena =
      std::make_shared<ArenaAllocator>(Device::cpu(), bytes.get(), kBytes);
};

TEST(LibraryWorkspace, ArenaBlocksAreCountedWhileTheyLive) {
  HostArena host;
  cuda::LibraryWorkspace workspace(host.arena);
  {
    const cuda::LibraryWorkspace::Block a = workspace.take(0, 1000);
    const cuda::LibraryWorkspace::Block b = workspace.take(1, 5000);
    EXPECT_EQ(host.arena->allocated_bytes(), 6000u);
    EXPECT_NE(a.data(), b.data());
  }
  EXPECT_EQ(host.arena->allocated_bytes(), 0u);
  EXPECT_EQ(host.arena->peak_bytes(), 6000u);
}

TEST(LibraryWorkspace, AMovedBlockIsGivenBackOnce) {
  HostArena host;
  cuda::LibraryWorkspace workspace(host.arena);
  cuda::LibraryWorkspace::Block kept;
  {
    cuda::LibraryWorkspace::Block taken = workspace.take(0, 4096);
    kept = std::move(taken);
    EXPECT_EQ(taken.data(), nullptr);
  }
  EXPECT_EQ(host.arena->allocated_bytes(), 4096u);
  kept = workspace.take(0, 100);  // the old block goes back as the new one takes its place
  EXPECT_EQ(host.arena->allocated_bytes(), 100u);
  kept = {};
  EXPECT_EQ(host.arena->allocated_bytes(), 0u);
}

TEST(LibraryWorkspace, NoBytesTakeNothing) {
  HostArena host;
  cuda::LibraryWorkspace workspace(host.arena);
  const cuda::LibraryWorkspace::Block none = workspace.take(0, 0);
  EXPECT_EQ(none.data(), nullptr);
  EXPECT_EQ(host.arena->peak_bytes(), 0u);
}

TEST(LibraryWorkspace, TheArenasCapRefusesABlock) {
  HostArena host;
  host.arena->set_cap(2048);
  cuda::LibraryWorkspace workspace(host.arena);
  const cuda::LibraryWorkspace::Block a = workspace.take(0, 2048);
  EXPECT_THROW(workspace.take(1, 1), OutOfMemory);
}

TEST(LibraryWorkspace, WithoutAnArenaEachSlotKeepsItsBuffer) {
  VRAMKIT_REQUIRE_CUDA();
  cuda::LibraryWorkspace workspace(nullptr);
  void* first = nullptr;
  {
    const cuda::LibraryWorkspace::Block a = workspace.take(0, 1 << 20);
    first = a.data();
    ASSERT_NE(first, nullptr);
  }
  EXPECT_EQ(workspace.take(0, 1000).data(), first);  // smaller: the same buffer
  EXPECT_NE(workspace.take(1, 1000).data(), first);  // another slot, another buffer
}

}  // namespace
}  // namespace vramkit
