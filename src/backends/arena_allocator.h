// ArenaAllocator: sub-allocates one pre-reserved address range (CUDA virtual address space, a single
// cudaMalloc, or an emulated device's reservation) so that steady-state allocation never calls the driver's
// allocator.
//
// The range may be backed on demand: with a `commit` function, only its first committed_bytes() are usable,
// and a block that would end beyond them first asks commit() to back more (CUDA: physical memory mapped into
// the reserved range), so the memory a run takes from the device is its high-water mark rather than the whole
// range. Blocks come from the start of the range first (best fit splits a free block at its low end), so the
// high-water mark follows the peak of the live bytes, plus fragmentation. Committed memory is kept until the
// arena is destroyed.
//
// Best-fit over a free list kept in two indexes (by size for the search, by offset for coalescing); blocks
// are rounded up to the arena's granularity (256 bytes, CUDA's allocation alignment), so every block's start
// is aligned to it. Accounting (Allocator) counts the requested bytes; the rounding and fragmentation are
// visible through reserved_bytes() and largest_free_block(). Thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "backends/accelerator.h"
#include "core/allocator.h"

namespace vramkit {

class ArenaAllocator final : public Allocator {
 public:
  static constexpr std::size_t kGranularity = 256;

  // Backs the range's first `end` bytes (end > committed_bytes()); returns the bytes now backed (at least
  // `end`: it may round up), or fewer when the memory is not there (the allocation then fails as out of
  // memory). Called with the arena's lock held.
  using Commit = std::function<std::size_t(std::size_t end)>;

  // `base` .. `base + capacity` is the range to manage; `release` (optional) is called once on destruction to
  // give the range back; `commit` (optional) backs it on demand (else it is all usable from the start). The
  // cap starts at `capacity`.
  ArenaAllocator(Device device, void* base, std::size_t capacity, std::function<void(void*)> release = {},
                 Commit commit = {});
  ~ArenaAllocator() override;

  Device device() const override { return device_; }
  void* base() const { return base_; }
  std::size_t capacity() const { return capacity_; }
  std::size_t reserved_bytes() const;      // bytes held by live blocks, rounding included
  std::size_t largest_free_block() const;  // the largest allocation that can succeed now (before the cap)
  std::size_t committed_bytes() const;     // the backed part of the range (capacity() without a commit)
  MemoryInfo memory_info() const;          // what the accelerators report (accelerator.h)

 protected:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes) noexcept override;

 private:
  Device device_;
  void* base_;
  std::size_t capacity_;
  std::function<void(void*)> release_;
  Commit commit_;
  mutable std::mutex mutex_;
  std::set<std::pair<std::size_t, std::size_t>> free_by_size_;  // (size, offset)
  std::map<std::size_t, std::size_t> free_by_offset_;           // offset -> size
  std::map<std::size_t, std::size_t> live_;                     // offset -> rounded size
  std::size_t reserved_ = 0;
  std::size_t committed_;
};

}  // namespace vramkit
