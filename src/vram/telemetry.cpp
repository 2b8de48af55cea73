#include "vram/telemetry.h"

#include <nlohmann/json.hpp>

namespace vramkit {

std::string TelemetrySnapshot::json() const {
  nlohmann::ordered_json j;
  j["peak_device_bytes"] = peak_device_bytes;
  j["peak_resident_bytes"] = peak_resident_bytes;
  j["peak_staging_bytes"] = peak_staging_bytes;
  j["peak_activation_bytes"] = peak_activation_bytes;
  j["resident_bytes"] = resident_bytes;
  j["staging_bytes"] = staging_bytes;
  j["pinned_bytes"] = pinned_bytes;
  j["bytes_disk_to_host"] = bytes_disk_to_host;
  j["bytes_disk_from_page_cache"] = bytes_disk_from_page_cache;
  j["bytes_host_to_device"] = bytes_host_to_device;
  j["copy_wait_seconds"] = copy_wait_seconds;
  j["units_acquired"] = units_acquired;
  j["max_staged_in_flight"] = max_staged_in_flight;
  return j.dump(2);
}

TelemetrySnapshot Telemetry::counters() const {
  TelemetrySnapshot s;
  s.bytes_disk_to_host = disk_.load(std::memory_order_relaxed);
  s.bytes_disk_from_page_cache = page_cache_.load(std::memory_order_relaxed);
  s.bytes_host_to_device = h2d_.load(std::memory_order_relaxed);
  s.copy_wait_seconds = static_cast<double>(wait_ns_.load(std::memory_order_relaxed)) * 1e-9;
  s.units_acquired = acquired_.load(std::memory_order_relaxed);
  s.max_staged_in_flight = max_in_flight_.load(std::memory_order_relaxed);
  return s;
}

void Telemetry::reset() {
  disk_ = 0;
  page_cache_ = 0;
  h2d_ = 0;
  wait_ns_ = 0;
  acquired_ = 0;
  max_in_flight_ = 0;
}

}  // namespace vramkit
