#include "vram/planner.h"

#include <gtest/gtest.h>

#include <random>

#include "common/test_sizes.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

// A unit streamed in fp8 and upcast to bf16 on the device: 1 byte/param moved, 3 bytes/param staged.
PlanUnit fp8_unit(std::string name, std::uint64_t params) {
  PlanUnit u;
  u.name = std::move(name);
  u.resident_bytes = params;
  u.stream_bytes = params;
  u.staging_bytes = 3 * params;
  u.resident_dtype = u.stream_dtype = DType::f8_e4m3fn;
  return u;
}

std::vector<PlanUnit> equal_units(int n, std::uint64_t params) {
  std::vector<PlanUnit> v;
  for (int i = 0; i < n; ++i) v.push_back(fp8_unit("blocks." + std::to_string(i), params));
  return v;
}

TEST(Planner, NoLimitKeepsEverythingResident) {
  PlanRequest r{equal_units(10, kMiB), std::nullopt, 5 * kMiB, 2};
  const Plan p = plan_residency(r);
  EXPECT_EQ(p.resident_count(), 10u);
  EXPECT_EQ(p.ring_bytes, 0u);
  EXPECT_EQ(p.stream_bytes_per_forward, 0u);
  EXPECT_EQ(p.peak_device_bytes, 15 * kMiB);
}

TEST(Planner, UnitsThatMayNotBeResidentAreStreamedEvenWithoutLimit) {
  auto units = equal_units(4, kMiB);
  units[2].may_be_resident = false;
  const Plan p = plan_residency({units, std::nullopt, 0, 3});
  EXPECT_EQ(p.resident_count(), 3u);
  EXPECT_EQ(p.placement[2], UnitPlacement::streamed);
  EXPECT_EQ(p.ring_bytes, 12 * kMiB);  // (3 slots + 1) x 3 MiB
  EXPECT_EQ(p.stream_bytes_per_forward, kMiB);
}

TEST(Planner, ZeroLimitStreamsEverythingAndSaysByHowMuchItIsOver) {
  const Plan p = plan_residency({equal_units(8, 2 * kMiB), 0, kMiB, 2});
  EXPECT_EQ(p.resident_count(), 0u);
  EXPECT_EQ(p.ring_bytes, 18 * kMiB);  // (2 slots + 1) x 6 MiB
  EXPECT_EQ(p.over_limit_bytes, 19 * kMiB);
  EXPECT_EQ(p.stream_bytes_per_forward, 16 * kMiB);
  EXPECT_NE(p.table().find("exceeds the limit by 19.00 MiB"), std::string::npos);
}

TEST(Planner, HalfTheBudgetAlternatesResidentAndStreamed) {
  // 20 units of 1 MiB (3 MiB staging, ring 9 MiB): limit 19 MiB leaves 10 MiB, half of the units.
  const Plan p = plan_residency({equal_units(20, kMiB), 19 * kMiB, 0, 2});
  EXPECT_EQ(p.resident_count(), 10u);
  for (std::size_t i = 1; i < p.placement.size(); ++i)
    EXPECT_NE(p.placement[i], p.placement[i - 1]) << "units " << i - 1 << " and " << i << " share a state";
  EXPECT_LE(p.peak_device_bytes, 19 * kMiB);
}

TEST(Planner, RandomModelsKeepTheBudgetAndPredictTheBytes) {
  std::mt19937_64 rng(42);
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<PlanUnit> units;
    const int n = 1 + static_cast<int>(rng() % 60);
    std::uint64_t total = 0;
    for (int i = 0; i < n; ++i) {
      PlanUnit u = fp8_unit("u" + std::to_string(i), 1 + rng() % (4 * kMiB));
      if (rng() % 5 == 0) u.staging_bytes = u.stream_bytes;  // no upcast needed
      if (rng() % 7 == 0) u.disk_bytes = u.stream_bytes;
      u.may_be_resident = rng() % 11 != 0;
      if (rng() % 3 == 0) u.resident_staging_bytes = 2 * u.resident_bytes;  // an fp8 unit upcast when resident
      total += u.resident_bytes;
      units.push_back(u);
    }
    const std::uint64_t workspace = rng() % (8 * kMiB);
    const std::uint64_t limit = rng() % (total + 16 * kMiB);
    const int slots = 1 + static_cast<int>(rng() % 3);
    const Plan p = plan_residency({units, limit, workspace, slots});
    std::uint64_t streamed = 0, disk = 0, resident = 0, slot = 0;
    for (int i = 0; i < n; ++i) {
      if (p.placement[static_cast<std::size_t>(i)] == UnitPlacement::resident) {
        ASSERT_TRUE(units[static_cast<std::size_t>(i)].may_be_resident);
        resident += units[static_cast<std::size_t>(i)].resident_bytes;
        slot = std::max(slot, units[static_cast<std::size_t>(i)].resident_staging_bytes);
      } else {
        streamed += units[static_cast<std::size_t>(i)].stream_bytes;
        disk += units[static_cast<std::size_t>(i)].disk_bytes;
        slot = std::max(slot, units[static_cast<std::size_t>(i)].staging_bytes);
      }
    }
    EXPECT_EQ(p.stream_bytes_per_forward, streamed);
    EXPECT_EQ(p.disk_bytes_per_forward, disk);
    EXPECT_EQ(p.resident_bytes, resident);
    EXPECT_EQ(p.ring_bytes, slot * static_cast<std::uint64_t>(slots == 1 ? 1 : slots + 1));
    EXPECT_EQ(p.peak_device_bytes, resident + p.ring_bytes + workspace);
    if (p.over_limit_bytes == 0) {
      EXPECT_LE(p.peak_device_bytes, limit) << "trial " << trial;
    } else {
      EXPECT_EQ(p.resident_count(), 0u);
      EXPECT_EQ(p.peak_device_bytes, limit + p.over_limit_bytes);
    }
  }
}

TEST(Planner, MoreBudgetNeverMeansMoreTraffic) {
  const auto units = equal_units(30, kMiB);
  std::uint64_t previous = ~0ull;
  for (std::uint64_t limit = 0; limit <= 40 * kMiB; limit += kMiB / 2) {
    const Plan p = plan_residency({units, limit, 0, 2});
    EXPECT_LE(p.stream_bytes_per_forward, previous) << "limit " << limit;
    previous = p.stream_bytes_per_forward;
  }
  EXPECT_EQ(previous, 0u);
}

TEST(Planner, ResidentUnitsThatUpcastNeedARingToo) {
  auto units = equal_units(4, kMiB);
  for (auto& u : units) u.resident_staging_bytes = 2 * kMiB;
  const Plan p = plan_residency({units, std::nullopt, 0, 2});
  EXPECT_EQ(p.resident_count(), 4u);
  EXPECT_EQ(p.ring_bytes, 6 * kMiB);
  EXPECT_EQ(p.stream_bytes_per_forward, 0u);
}

TEST(Planner, TheRingIsTheLookaheadWhenLargerThanTheMinimum) {
  // One slot: one largest unit; more: one more than the slots, so that held leases never block the next unit.
  EXPECT_EQ(staging_ring_bytes(3 * kMiB, 1, 0), 3 * kMiB);
  EXPECT_EQ(staging_ring_bytes(3 * kMiB, 2, 0), 9 * kMiB);
  EXPECT_EQ(staging_ring_bytes(3 * kMiB, 2, 4 * kMiB), 9 * kMiB);  // below the minimum: the minimum
  EXPECT_EQ(staging_ring_bytes(3 * kMiB, 2, 20 * kMiB), 20 * kMiB);
  EXPECT_EQ(staging_ring_bytes(0, 2, 20 * kMiB), 0u);  // nothing passes through the ring
  // A larger lookahead is reserved from the budget: fewer resident units, and the budget still kept.
  PlanRequest r{equal_units(20, kMiB), 19 * kMiB, 0, 2};
  r.lookahead_bytes = 12 * kMiB;
  const Plan p = plan_residency(r);
  EXPECT_EQ(p.ring_bytes, 12 * kMiB);
  EXPECT_EQ(p.largest_staging_bytes, 3 * kMiB);
  EXPECT_EQ(p.resident_count(), 7u);
  EXPECT_EQ(p.peak_device_bytes, 12 * kMiB + 7 * kMiB);
}

TEST(Planner, TableListsUnitsStatesAndTotals) {
  const Plan p = plan_residency({equal_units(3, kMiB), 8 * kMiB, 0, 2});
  const std::string t = p.table(50.0);
  for (const char* s : {"blocks.0", "blocks.2", "resident", "streamed", "f8_e4m3fn", "per forward", "GB/s"})
    EXPECT_NE(t.find(s), std::string::npos) << s << "\n" << t;
  EXPECT_THROW(plan_residency({equal_units(1, 1), 0, 0, 0}), ArgumentError);
}

}  // namespace
}  // namespace vramkit
