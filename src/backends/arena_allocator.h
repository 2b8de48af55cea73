// ArenaAllocator: sub-allocates one pre-reserved address range (a single cudaMalloc, or an emulated device's
// reservation) so that steady-state allocation never calls the driver and the whole footprint is known up front.
//
// Best-fit over a free list kept in two indexes (by size for the search, by offset for coalescing); blocks are
// rounded up to the arena's granularity (256 bytes, CUDA's allocation alignment), so every block's start is
// aligned to it. Accounting (Allocator) counts the requested bytes; the rounding and fragmentation are visible
// through reserved_bytes() and largest_free_block(). Thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "core/allocator.h"

namespace vramkit {

class ArenaAllocator final : public Allocator {
 public:
  static constexpr std::size_t kGranularity = 256;

  // `base` .. `base + capacity` is the range to manage; `release` (optional) is called once on destruction to
  // give the range back. The cap starts at `capacity`.
  ArenaAllocator(Device device, void* base, std::size_t capacity, std::function<void(void*)> release = {});
  ~ArenaAllocator() override;

  Device device() const override { return device_; }
  void* base() const { return base_; }
  std::size_t capacity() const { return capacity_; }
  std::size_t reserved_bytes() const;      // bytes held by live blocks, rounding included
  std::size_t largest_free_block() const;  // the largest allocation that can succeed now (before the cap)

 protected:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes) noexcept override;

 private:
  Device device_;
  void* base_;
  std::size_t capacity_;
  std::function<void(void*)> release_;
  mutable std::mutex mutex_;
  std::set<std::pair<std::size_t, std::size_t>> free_by_size_;  // (size, offset)
  std::map<std::size_t, std::size_t> free_by_offset_;           // offset -> size
  std::map<std::size_t, std::size_t> live_;                     // offset -> rounded size
  std::size_t reserved_ = 0;
};

}  // namespace vramkit
