// The residency planner: a pure function from (units in execution order, budget) to a plan that says which
// units stay resident on the accelerator (the "preparing" state) and which are streamed through a ring of
// staging buffers, with the device bytes and the bytes moved per forward it implies.
//
// Policy (docs/vram.md has a worked example):
//  1. No limit: every unit that may be resident is; no ring.
//  2. A limit: the staging ring (staging_ring_bytes: a byte ring sized from the largest staging need, of a
//     streamed unit or of the upcast buffer of a resident unit stored in another dtype than it computes in, and
//     ring_slots, or lookahead_bytes when larger) and the workspace are reserved first; what remains is the
//     resident budget. If everything fits, all is resident.
//  3. Otherwise resident units are spread through the execution order rather than taken as a prefix: a unit
//     becomes resident when the running "credit" (budget fraction x bytes seen so far) covers it, so that
//     resident computation sits between streamed units and hides their copies (the copy engine never idles
//     through a long resident prefix while a streamed suffix waits). A final pass fills what is left of the
//     budget with the largest units that still fit.
//  4. If even the minimum (ring + workspace) exceeds the limit, everything is streamed and the plan records by
//     how much it runs over (the caller warns), as DiffSynth-Studio documents.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace vramkit {

struct PlanUnit {
  std::string name;
  std::uint64_t resident_bytes = 0;  // device bytes when resident (preparing dtype)
  std::uint64_t stream_bytes = 0;    // bytes copied host -> device each time the unit runs streamed
  std::uint64_t staging_bytes = 0;   // device bytes it needs while streamed (copy buffer + upcast buffer)
  std::uint64_t resident_staging_bytes = 0;  // device bytes it needs while resident (upcast buffer, if any)
  std::uint64_t disk_bytes = 0;      // bytes read from disk each time it runs streamed: its aligned reads (0 unless
                                     // onload is disk)
  DType resident_dtype = DType::bf16;
  DType stream_dtype = DType::bf16;
  bool may_be_resident = true;  // false when the preparing device is not the accelerator
};

struct PlanRequest {
  std::vector<PlanUnit> units;              // in execution order
  std::optional<std::uint64_t> vram_limit;  // bytes; unset = no limit
  std::uint64_t workspace_bytes = 0;        // activations and scratch of the largest step
  int ring_slots = 2;                       // staged leases a model may hold at once
  std::uint64_t lookahead_bytes = 0;        // the staging ring's size; 0 (or less than the minimum) = the minimum
};

// The staging ring's bytes: lookahead_bytes, but at least the minimum that lets a model hold ring_slots staged
// leases while the next unit is placed, whatever the sizes: one largest unit for ring_slots = 1 (no lease is
// held while the next is placed), (ring_slots + 1) x largest otherwise. Units are placed in the ring in
// execution order, each after the previous one or at the start when it does not fit before the end; the
// ring_slots - 1 held leases span at most (ring_slots - 1) x largest plus one such wrap gap (< largest), so
// with (ring_slots + 1) x largest bytes the next unit always finds its bytes without them. 0 when
// largest_staging_bytes is 0 (nothing passes through the ring).
std::uint64_t staging_ring_bytes(std::uint64_t largest_staging_bytes, int ring_slots, std::uint64_t lookahead_bytes);

enum class UnitPlacement { resident, streamed };

struct Plan {
  std::vector<PlanUnit> units;  // as requested
  std::vector<UnitPlacement> placement;
  std::uint64_t resident_bytes = 0;
  std::uint64_t largest_staging_bytes = 0;  // the largest unit's bytes in the ring
  std::uint64_t ring_bytes = 0;             // the staging ring (staging_ring_bytes)
  std::uint64_t workspace_bytes = 0;
  std::uint64_t peak_device_bytes = 0;        // resident + ring + workspace
  std::uint64_t stream_bytes_per_forward = 0;  // host -> device
  std::uint64_t disk_bytes_per_forward = 0;
  std::optional<std::uint64_t> vram_limit;
  std::uint64_t over_limit_bytes = 0;  // > 0 when even the minimum does not fit the limit

  std::size_t resident_count() const;
  // Lower bound of the transfer time per forward at the given host -> device and disk bandwidths (GB/s, 1e9
  // bytes; 0 = not counted). The tiers overlap, so it is the larger of the two.
  double stream_seconds(double h2d_gbps, double disk_gbps = 0) const;
  // The table `vramkit plan` prints: one row per unit (name, state, dtype, bytes), then totals and the
  // predicted GB (and seconds, given bandwidths > 0) moved per forward.
  std::string table(double h2d_gbps = 0, double disk_gbps = 0) const;
  // The totals part of the table alone.
  std::string totals(double h2d_gbps = 0, double disk_gbps = 0) const;
};

// Throws ArgumentError for ring_slots < 1.
Plan plan_residency(const PlanRequest& request);

}  // namespace vramkit
