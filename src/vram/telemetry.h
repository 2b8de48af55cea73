// What the VRAM manager measured: bytes per tier, time the computation waited for copies, and device memory by
// category. Counters are updated by the copy and reader threads and read by anyone.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace vramkit {

struct TelemetrySnapshot {
  std::uint64_t peak_device_bytes = 0;      // the device arena's high-water mark
  // The peak of each kind of device memory, each reached at its own moment (together at least the above):
  std::uint64_t peak_resident_bytes = 0;    //   weights kept on the device
  std::uint64_t peak_staging_bytes = 0;     //   the staging rings of streamed weights
  std::uint64_t peak_activation_bytes = 0;  //   everything else: activations, op and library scratch
  std::uint64_t resident_bytes = 0;         // now: weights kept on the device
  std::uint64_t staging_bytes = 0;          // now: the ring of streaming buffers
  std::uint64_t pinned_bytes = 0;           // now: page-locked host memory (host copies, disk staging)
  std::uint64_t bytes_disk_to_host = 0;
  std::uint64_t bytes_disk_from_page_cache = 0;  // of bytes_disk_to_host, those the page cache held
  std::uint64_t bytes_host_to_device = 0;
  double copy_wait_seconds = 0;             // computation blocked waiting for weights
  std::uint64_t units_acquired = 0;
  std::uint64_t max_staged_in_flight = 0;   // most units in the staging ring at once (copied ahead or in use)

  // {"peak_device_bytes": ..., ...}
  std::string json() const;
};

class Telemetry {
 public:
  // `n` bytes read from the files, `cached` of them served by the page cache.
  void add_disk_bytes(std::uint64_t n, std::uint64_t cached = 0) {
    disk_.fetch_add(n, std::memory_order_relaxed);
    page_cache_.fetch_add(cached, std::memory_order_relaxed);
  }
  void add_h2d_bytes(std::uint64_t n) { h2d_.fetch_add(n, std::memory_order_relaxed); }
  void add_wait(double seconds) { wait_ns_.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed); }
  void add_acquire() { acquired_.fetch_add(1, std::memory_order_relaxed); }
  void note_staged_in_flight(std::uint64_t n) {
    std::uint64_t seen = max_in_flight_.load(std::memory_order_relaxed);
    while (n > seen && !max_in_flight_.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
    }
  }

  // Counters since construction or the last reset(); the memory figures are filled in by the manager (from
  // the allocators' counts per MemoryUse).
  TelemetrySnapshot counters() const;
  void reset();

 private:
  std::atomic<std::uint64_t> disk_{0}, page_cache_{0}, h2d_{0}, wait_ns_{0}, acquired_{0}, max_in_flight_{0};
};

}  // namespace vramkit
