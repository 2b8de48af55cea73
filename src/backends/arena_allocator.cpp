#include "backends/arena_allocator.h"

#include <algorithm>
#include <iterator>

#include "vramkit/error.h"

namespace vramkit {
namespace {

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

}  // namespace

ArenaAllocator::ArenaAllocator(Device device, void* base, std::size_t capacity,
                               std::function<void(void*)> release, Commit commit)
    : device_(device),
      base_(base),
      capacity_(capacity / kGranularity * kGranularity),
      release_(std::move(release)),
      commit_(std::move(commit)),
      committed_(commit_ ? 0 : capacity_) {
  if (base == nullptr && capacity != 0) throw ArgumentError("ArenaAllocator: null base for a non-empty arena");
  if (reinterpret_cast<std::uintptr_t>(base) % kGranularity != 0)
    throw ArgumentError("ArenaAllocator: base is not aligned to " + std::to_string(kGranularity) + " bytes");
  if (capacity_ > 0) {
    free_by_size_.emplace(capacity_, 0);
    free_by_offset_.emplace(0, capacity_);
  }
  set_cap(capacity_);
}

ArenaAllocator::~ArenaAllocator() {
  if (release_ && base_) release_(base_);
}

std::size_t ArenaAllocator::reserved_bytes() const {
  std::lock_guard lock(mutex_);
  return reserved_;
}

std::size_t ArenaAllocator::committed_bytes() const {
  std::lock_guard lock(mutex_);
  return committed_;
}

MemoryInfo ArenaAllocator::memory_info() const {
  std::lock_guard lock(mutex_);
  return {capacity_, capacity_ - reserved_, committed_};
}

std::size_t ArenaAllocator::largest_free_block() const {
  std::lock_guard lock(mutex_);
  return free_by_size_.empty() ? 0 : std::prev(free_by_size_.end())->first;
}

void* ArenaAllocator::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (alignment > kGranularity)
    throw ArgumentError("ArenaAllocator: alignment " + std::to_string(alignment) + " exceeds the granularity " +
                        std::to_string(kGranularity));
  const std::size_t size = round_up(bytes == 0 ? 1 : bytes, kGranularity);
  std::lock_guard lock(mutex_);
  const auto it = free_by_size_.lower_bound({size, 0});  // the smallest block that fits
  if (it == free_by_size_.end()) {
    const std::size_t largest = free_by_size_.empty() ? 0 : std::prev(free_by_size_.end())->first;
    throw OutOfMemory(device_.str(), bytes,
                      "no free block that large: " + std::to_string(capacity_ - reserved_) +
                          " bytes are free, in pieces of at most " + std::to_string(largest));
  }
  const auto [block_size, offset] = *it;
  if (offset + size > committed_) {
    const std::size_t backed = commit_(offset + size);
    if (backed < offset + size)
      throw OutOfMemory(device_.str(), bytes,
                        "the device could back only " + std::to_string(backed) + " of the " +
                            std::to_string(offset + size) + " bytes the arena needs");
    committed_ = std::min(backed, capacity_);
  }
  free_by_size_.erase(it);
  free_by_offset_.erase(offset);
  if (block_size > size) {
    free_by_size_.emplace(block_size - size, offset + size);
    free_by_offset_.emplace(offset + size, block_size - size);
  }
  live_.emplace(offset, size);
  reserved_ += size;
  return static_cast<char*>(base_) + offset;
}

void ArenaAllocator::do_deallocate(void* p, std::size_t /*bytes*/) noexcept {
  std::lock_guard lock(mutex_);
  const auto live = live_.find(static_cast<std::size_t>(static_cast<char*>(p) - static_cast<char*>(base_)));
  if (live == live_.end()) return;  // not ours: Allocator::deallocate is only called with our pointers
  std::size_t offset = live->first, size = live->second;
  live_.erase(live);
  reserved_ -= size;
  // Merge with the free neighbours on both sides.
  auto next = free_by_offset_.lower_bound(offset);
  if (next != free_by_offset_.end() && next->first == offset + size) {
    free_by_size_.erase({next->second, next->first});
    size += next->second;
    next = free_by_offset_.erase(next);
  }
  if (next != free_by_offset_.begin()) {
    const auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      free_by_size_.erase({prev->second, prev->first});
      offset = prev->first;
      size += prev->second;
      free_by_offset_.erase(prev);
    }
  }
  free_by_size_.emplace(size, offset);
  free_by_offset_.emplace(offset, size);
}

}  // namespace vramkit
