#include "vram/planner.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "core/human_bytes.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

// The largest staging need for a given placement, streamed or resident.
std::uint64_t largest_staging(const std::vector<PlanUnit>& units, const std::vector<UnitPlacement>& placement) {
  std::uint64_t largest = 0;
  for (std::size_t i = 0; i < units.size(); ++i) {
    const bool streamed = placement[i] == UnitPlacement::streamed;
    largest = std::max(largest, streamed ? units[i].staging_bytes : units[i].resident_staging_bytes);
  }
  return largest;
}

// Chooses resident units within `budget` bytes: spread by credit, then filled largest-first (see planner.h).
std::vector<UnitPlacement> spread_residents(const std::vector<PlanUnit>& units, std::uint64_t budget) {
  std::vector<UnitPlacement> placement(units.size(), UnitPlacement::streamed);
  std::uint64_t candidates = 0;
  for (const auto& u : units)
    if (u.may_be_resident) candidates += u.resident_bytes;
  if (candidates == 0 || budget == 0) return placement;
  const double fraction = std::min(1.0, static_cast<double>(budget) / static_cast<double>(candidates));
  double credit = 0;
  std::uint64_t used = 0;
  for (std::size_t i = 0; i < units.size(); ++i) {
    const auto& u = units[i];
    if (!u.may_be_resident) continue;
    credit += fraction * static_cast<double>(u.resident_bytes);
    if (static_cast<double>(u.resident_bytes) <= credit && used + u.resident_bytes <= budget) {
      placement[i] = UnitPlacement::resident;
      credit -= static_cast<double>(u.resident_bytes);
      used += u.resident_bytes;
    }
  }
  std::vector<std::size_t> rest;
  for (std::size_t i = 0; i < units.size(); ++i)
    if (placement[i] == UnitPlacement::streamed && units[i].may_be_resident) rest.push_back(i);
  std::stable_sort(rest.begin(), rest.end(),
                   [&](std::size_t a, std::size_t b) { return units[a].resident_bytes > units[b].resident_bytes; });
  for (std::size_t i : rest) {
    if (used + units[i].resident_bytes > budget) continue;
    placement[i] = UnitPlacement::resident;
    used += units[i].resident_bytes;
  }
  return placement;
}

}  // namespace

std::uint64_t staging_ring_bytes(std::uint64_t largest_staging_bytes, int ring_slots, std::uint64_t lookahead_bytes) {
  if (largest_staging_bytes == 0) return 0;
  const auto units = static_cast<std::uint64_t>(ring_slots == 1 ? 1 : ring_slots + 1);
  return std::max(lookahead_bytes, units * largest_staging_bytes);
}

std::size_t Plan::resident_count() const {
  return static_cast<std::size_t>(std::count(placement.begin(), placement.end(), UnitPlacement::resident));
}

double Plan::stream_seconds(double h2d_gbps, double disk_gbps) const {
  // Disk reads run ahead into pinned buffers while earlier units cross the bus: the tiers overlap, so the
  // slower one bounds the time.
  double h2d = h2d_gbps > 0 ? static_cast<double>(stream_bytes_per_forward) / (h2d_gbps * 1e9) : 0;
  double disk = disk_gbps > 0 ? static_cast<double>(disk_bytes_per_forward) / (disk_gbps * 1e9) : 0;
  return std::max(h2d, disk);
}

Plan plan_residency(const PlanRequest& request) {
  if (request.ring_slots < 1)
    throw ArgumentError("planner: ring_slots must be at least 1, got " + std::to_string(request.ring_slots));
  Plan plan;
  plan.units = request.units;
  plan.vram_limit = request.vram_limit;
  plan.workspace_bytes = request.workspace_bytes;
  const auto& units = plan.units;
  const auto ring = [&](const std::vector<UnitPlacement>& p) {
    return staging_ring_bytes(largest_staging(units, p), request.ring_slots, request.lookahead_bytes);
  };

  // Start from "everything that may be resident is" and see whether the limit allows it.
  std::vector<UnitPlacement> all(units.size());
  std::uint64_t all_resident = 0;
  for (std::size_t i = 0; i < units.size(); ++i) {
    all[i] = units[i].may_be_resident ? UnitPlacement::resident : UnitPlacement::streamed;
    if (units[i].may_be_resident) all_resident += units[i].resident_bytes;
  }
  const auto fits = [&](const std::vector<UnitPlacement>& p, std::uint64_t resident) {
    return !request.vram_limit ||
           resident + ring(p) + request.workspace_bytes <= *request.vram_limit;
  };
  if (fits(all, all_resident)) {
    plan.placement = all;
  } else {
    // Reserve the ring for the worst case (the largest unit may be streamed), spread residents in the rest,
    // then give back what a smaller final ring frees, as long as the plan still fits.
    std::vector<UnitPlacement> none(units.size(), UnitPlacement::streamed);
    const std::uint64_t limit = *request.vram_limit;
    const std::uint64_t minimum = ring(none) + request.workspace_bytes;
    if (minimum > limit) {
      plan.placement = none;
      plan.over_limit_bytes = minimum - limit;
    } else {
      std::uint64_t budget = limit - minimum;
      plan.placement = spread_residents(units, budget);
      for (int round = 0; round < 4; ++round) {
        const std::uint64_t wider = limit - ring(plan.placement) - request.workspace_bytes;
        if (wider <= budget) break;
        auto candidate = spread_residents(units, wider);
        std::uint64_t resident = 0;
        for (std::size_t i = 0; i < units.size(); ++i)
          if (candidate[i] == UnitPlacement::resident) resident += units[i].resident_bytes;
        if (!fits(candidate, resident)) break;
        plan.placement = std::move(candidate);
        budget = wider;
      }
    }
  }

  for (std::size_t i = 0; i < units.size(); ++i) {
    if (plan.placement[i] == UnitPlacement::resident) {
      plan.resident_bytes += units[i].resident_bytes;
    } else {
      plan.stream_bytes_per_forward += units[i].stream_bytes;
      plan.disk_bytes_per_forward += units[i].disk_bytes;
    }
  }
  plan.largest_staging_bytes = largest_staging(units, plan.placement);
  plan.ring_bytes = ring(plan.placement);
  plan.peak_device_bytes = plan.resident_bytes + plan.ring_bytes + plan.workspace_bytes;
  return plan;
}

std::string Plan::table(double h2d_gbps, double disk_gbps) const {
  std::size_t width = 4;
  for (const auto& u : units) width = std::max(width, u.name.size());
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-*s  %-9s  %-10s  %12s\n", static_cast<int>(width), "unit", "state", "dtype",
                "bytes");
  out += line;
  for (std::size_t i = 0; i < units.size(); ++i) {
    const auto& u = units[i];
    const bool resident = placement[i] == UnitPlacement::resident;
    std::snprintf(line, sizeof line, "%-*s  %-9s  %-10s  %12s\n", static_cast<int>(width), u.name.c_str(),
                  resident ? "resident" : "streamed",
                  std::string(dtype_name(resident ? u.resident_dtype : u.stream_dtype)).c_str(),
                  human_bytes(resident ? u.resident_bytes : u.stream_bytes).c_str());
    out += line;
  }
  return out + "\n" + totals(h2d_gbps, disk_gbps);
}

std::string Plan::totals(double h2d_gbps, double disk_gbps) const {
  std::string out;
  char line[256];
  out += "units: " + std::to_string(resident_count()) + " resident, " +
         std::to_string(units.size() - resident_count()) + " streamed\n";
  out += "device: resident " + human_bytes(resident_bytes) + " + ring " + human_bytes(ring_bytes) + " (" +
         human_bytes(largest_staging_bytes) + " largest unit) + workspace " + human_bytes(workspace_bytes) + " = " +
         human_bytes(peak_device_bytes);
  out += vram_limit ? " of a " + human_bytes(*vram_limit) + " limit\n" : " (no limit)\n";
  if (over_limit_bytes > 0)
    out += "warning: the minimum (ring + workspace) exceeds the limit by " + human_bytes(over_limit_bytes) + "\n";
  std::snprintf(line, sizeof line, "per forward: %.3f GB host->device, %.3f GB disk->host",
                static_cast<double>(stream_bytes_per_forward) / 1e9, static_cast<double>(disk_bytes_per_forward) / 1e9);
  out += line;
  if (h2d_gbps > 0) {
    std::snprintf(line, sizeof line, "; at least %.3f s at %.1f GB/s host->device", stream_seconds(h2d_gbps, disk_gbps),
                  h2d_gbps);
    out += line;
    if (disk_gbps > 0) {
      std::snprintf(line, sizeof line, " and %.1f GB/s disk", disk_gbps);
      out += line;
    }
  }
  return out + "\n";
}

}  // namespace vramkit
