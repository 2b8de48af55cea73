#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backends/arena_allocator.h"
#include "backends/emu/emu_accelerator.h"
#include "common/accelerator_conformance.h"
#include "common/test_sizes.h"
#include "core/convert.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

TEST(ArenaAllocator, BestFitSplitsAndCoalesces) {
  alignas(256) static unsigned char memory[16 * 1024];
  ArenaAllocator a(Device::emu(0), memory, sizeof memory);
  void* p1 = a.allocate(1000);  // rounds to 1024
  void* p2 = a.allocate(4096);
  void* p3 = a.allocate(256);
  EXPECT_EQ(p1, memory);
  EXPECT_EQ(static_cast<unsigned char*>(p2), memory + 1024);
  EXPECT_EQ(a.allocated_bytes(), 1000u + 4096u + 256u);
  EXPECT_EQ(a.reserved_bytes(), 1024u + 4096u + 256u);
  a.deallocate(p2, 4096);
  // A 2 KiB request takes the best fit: the freed 4 KiB hole rather than the large tail.
  void* p4 = a.allocate(2048);
  EXPECT_EQ(p4, p2);
  a.deallocate(p1, 1000);
  a.deallocate(p4, 2048);
  a.deallocate(p3, 256);
  EXPECT_EQ(a.allocated_bytes(), 0u);
  EXPECT_EQ(a.reserved_bytes(), 0u);
  EXPECT_EQ(a.largest_free_block(), sizeof memory);  // everything merged back into one block
}

TEST(ArenaAllocator, RandomTrafficNeverOverlapsAndReturnsToEmpty) {
  const std::size_t capacity = 4 * kMiB;
  std::vector<unsigned char> backing(capacity + 256);
  auto* base = reinterpret_cast<unsigned char*>((reinterpret_cast<std::uintptr_t>(backing.data()) + 255) / 256 * 256);
  ArenaAllocator a(Device::emu(0), base, capacity);
  std::mt19937 rng(3);
  std::vector<std::pair<unsigned char*, std::size_t>> live;
  for (int step = 0; step < 5000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      const std::size_t n = 1 + rng() % 65536;
      try {
        auto* p = static_cast<unsigned char*>(a.allocate(n));
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 256, 0u);
        ASSERT_LE(p + n, base + capacity);
        std::memset(p, static_cast<int>(live.size() & 0xff), n);
        live.emplace_back(p, n);
      } catch (const OutOfMemory&) {
        EXPECT_LT(a.largest_free_block(), (n + 255) / 256 * 256);  // refused only when no hole fits
      }
    } else {
      const std::size_t k = rng() % live.size();
      a.deallocate(live[k].first, live[k].second);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
  // No two live blocks overlap.
  std::sort(live.begin(), live.end());
  for (std::size_t i = 1; i < live.size(); ++i) EXPECT_LE(live[i - 1].first + live[i - 1].second, live[i].first);
  for (auto& [p, n] : live) a.deallocate(p, n);
  EXPECT_EQ(a.allocated_bytes(), 0u);
  EXPECT_EQ(a.largest_free_block(), capacity);
}

TEST(ArenaAllocator, CapBelowCapacityIsHonoured) {
  alignas(256) static unsigned char memory[8192];
  ArenaAllocator a(Device::emu(0), memory, sizeof memory);
  a.set_cap(3000);
  void* p = a.allocate(2000);
  EXPECT_THROW(a.allocate(1001), OutOfMemory);
  a.deallocate(p, 2000);
  EXPECT_THROW(ArenaAllocator(Device::emu(0), memory + 1, 512), ArgumentError);
}

// Each use is counted apart with its own peak; reset_peak restarts every peak from what is live.
TEST(ArenaAllocator, CountsEachUseApartWithItsOwnPeak) {
  alignas(256) static unsigned char memory[8192];
  ArenaAllocator a(Device::emu(0), memory, sizeof memory);
  void* w = a.allocate(1000, 256, MemoryUse::weights);
  void* x = a.allocate(2000);
  a.deallocate(x, 2000);
  void* r = a.allocate(1500, 256, MemoryUse::staging);
  EXPECT_EQ(a.allocated_bytes(MemoryUse::weights), 1000u);
  EXPECT_EQ(a.allocated_bytes(MemoryUse::staging), 1500u);
  EXPECT_EQ(a.allocated_bytes(MemoryUse::other), 0u);
  EXPECT_EQ(a.peak_bytes(MemoryUse::other), 2000u);
  EXPECT_EQ(a.peak_bytes(), 3000u);  // weights and x together
  a.reset_peak();
  EXPECT_EQ(a.peak_bytes(), 2500u);
  EXPECT_EQ(a.peak_bytes(MemoryUse::other), 0u);
  EXPECT_EQ(a.peak_bytes(MemoryUse::staging), 1500u);
  a.deallocate(r, 1500, MemoryUse::staging);
  a.deallocate(w, 1000, MemoryUse::weights);
  EXPECT_EQ(a.allocated_bytes(), 0u);
  EXPECT_EQ(a.allocated_bytes(MemoryUse::weights), 0u);
}

// A refusal says why: the free bytes are there but in smaller pieces, or the device would not back the arena;
// either way the bytes reserved against the cap are given back (and so is a bad alignment's).
TEST(ArenaAllocator, RefusalsSayWhyAndGiveTheReservationBack) {
  alignas(256) static unsigned char memory[4096];
  ArenaAllocator a(Device::emu(0), memory, sizeof memory);
  void* p1 = a.allocate(1024);
  void* p2 = a.allocate(1024);
  void* p3 = a.allocate(1024);
  a.deallocate(p1, 1024);
  a.deallocate(p3, 1024);  // 3072 bytes free, in pieces of 1024 and 2048
  try {
    a.allocate(2560);
    ADD_FAILURE() << "no exception";
  } catch (const OutOfMemory& e) {
    EXPECT_EQ(e.bytes(), 2560u);
    EXPECT_NE(std::string(e.what()).find("3072 bytes are free, in pieces of at most 2048"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(a.allocated_bytes(), 1024u);
  EXPECT_THROW(a.allocate(16, 4096), ArgumentError);  // alignment above the granularity
  EXPECT_EQ(a.allocated_bytes(), 1024u);
  a.deallocate(p2, 1024);

  ArenaAllocator backed(Device::emu(0), memory, sizeof memory, {}, [](std::size_t) { return 2048; });
  try {
    backed.allocate(3000);
    ADD_FAILURE() << "no exception";
  } catch (const OutOfMemory& e) {
    EXPECT_NE(std::string(e.what()).find("the device could back only 2048 of the 3072 bytes"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(backed.allocated_bytes(), 0u);
}

// An arena backed on demand asks for more only when a block ends beyond the backed part, keeps what it was
// given (rounded up by the commit function), and fails an allocation the commit cannot back.
TEST(ArenaAllocator, CommitsOnDemandUpToTheHighWaterMark) {
  alignas(256) static unsigned char memory[16 * 1024];
  std::vector<std::size_t> asked;
  std::size_t limit = 8 * 1024;  // what the "device" can back
  ArenaAllocator a(Device::emu(0), memory, sizeof memory, {}, [&](std::size_t end) {
    asked.push_back(end);
    const std::size_t rounded = (end + 2047) / 2048 * 2048;
    return rounded <= limit ? rounded : 0;
  });
  EXPECT_EQ(a.committed_bytes(), 0u);
  void* p1 = a.allocate(1000);
  EXPECT_EQ(asked, (std::vector<std::size_t>{1024}));
  EXPECT_EQ(a.committed_bytes(), 2048u);
  void* p2 = a.allocate(1000);  // ends at 2048: already backed
  EXPECT_EQ(asked.size(), 1u);
  a.deallocate(p2, 1000);
  void* p3 = a.allocate(3000);  // ends at 1024 + 3072
  EXPECT_EQ(asked.back(), 4096u);
  EXPECT_EQ(a.committed_bytes(), 4096u);
  a.deallocate(p1, 1000);
  void* p4 = a.allocate(900);  // fits in the freed low block: nothing new to back
  EXPECT_EQ(p4, memory);
  EXPECT_EQ(asked.size(), 2u);
  // Beyond what the device can back: out of memory, and the arena stays consistent.
  EXPECT_THROW(a.allocate(6000), OutOfMemory);
  EXPECT_EQ(a.committed_bytes(), 4096u);
  EXPECT_EQ(a.reserved_bytes(), 1024u + 3072u);
  limit = sizeof memory;
  void* p5 = a.allocate(6000);
  EXPECT_EQ(static_cast<unsigned char*>(p5), memory + 4096);
  EXPECT_EQ(a.committed_bytes(), 10240u);
  for (void* p : {p3, p4, p5}) a.deallocate(p, 1);
  EXPECT_EQ(a.reserved_bytes(), 0u);
  EXPECT_EQ(a.committed_bytes(), 10240u);  // kept
}

TEST(EmuAccelerator, Conformance) {
  EmuAccelerator emu({64 * kMiB, 0, 0});
  EXPECT_EQ(emu.device(), Device::emu(0));
  conformance::copies_and_conversions_follow_events(emu);
  conformance::dequantize_matches_the_host(emu);
  conformance::host_functions_run_in_stream_order(emu);
  conformance::device_memory_is_capped_and_accounted(emu, 64 * kMiB);
  EXPECT_EQ(emu.memory_info().free_bytes, 64 * kMiB);
}

TEST(EmuAccelerator, SynchronizeWaitsForEverything) {
  EmuAccelerator emu({16 * kMiB, 0, 0});
  auto s = emu.create_stream("h2d");
  std::vector<int> src(1000, 7), dst(1000, 0);
  for (int i = 0; i < 50; ++i) s->copy(dst.data(), src.data(), src.size() * sizeof(int));
  s->synchronize();
  EXPECT_EQ(dst[999], 7);
  auto never = emu.create_event();
  EXPECT_TRUE(never->ready());  // never recorded: nothing to wait for
  never->synchronize();
}

TEST(EmuAccelerator, ThrottledCopiesTakeAtLeastBytesOverBandwidth) {
  // A lower bound only (sleeps never end early); the upper bound is a benchmark's business.
  EmuAccelerator emu({64 * kMiB, 2.0, 100.0});
  auto s = emu.create_stream("h2d");
  std::vector<unsigned char> src(8 * kMiB, 1), dst(8 * kMiB);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) s->copy(dst.data(), src.data(), src.size());
  s->synchronize();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(seconds, 4 * (8.0 * kMiB / 2e9 + 100e-6) * 0.999);
}

TEST(EmuAccelerator, RejectsForeignEventsAndBadOptions) {
  EmuAccelerator emu({kMiB, 0, 0});
  struct ForeignEvent : Event {
    void synchronize() override {}
    bool ready() override { return true; }
  } foreign;
  EXPECT_THROW(emu.compute_stream().wait(foreign), ArgumentError);
  EXPECT_THROW(EmuAccelerator({kMiB, -1, 0}), ArgumentError);
}

}  // namespace
}  // namespace vramkit
