#include "core/allocator.h"

#include <cstdlib>
#include <string>

#include "vramkit/error.h"

namespace vramkit {

namespace {

void raise_to(std::atomic<std::size_t>& peak, std::size_t value) {
  std::size_t seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

void* Allocator::allocate(std::size_t bytes, std::size_t alignment, MemoryUse use) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw ArgumentError("allocation alignment " + std::to_string(alignment) + " is not a power of two");
  // Reserve the bytes against the cap first, so that concurrent allocations can never overshoot it together.
  std::size_t current = allocated_.load(std::memory_order_relaxed);
  std::size_t next;
  do {
    if (__builtin_add_overflow(current, bytes, &next) || next > cap_bytes()) {
      throw OutOfMemory(device().str(), bytes,
                        "cap " + std::to_string(cap_bytes()) + " bytes, " + std::to_string(current) + " in use");
    }
  } while (!allocated_.compare_exchange_weak(current, next, std::memory_order_relaxed));
  raise_to(peak_, next);
  void* p = nullptr;
  try {
    p = do_allocate(bytes, alignment);
  } catch (...) {
    allocated_.fetch_sub(bytes, std::memory_order_relaxed);
    throw;
  }
  if (p == nullptr) {
    allocated_.fetch_sub(bytes, std::memory_order_relaxed);
    throw OutOfMemory(device().str(), bytes, "the backing allocation failed");
  }
  UseCount& count = uses_[index(use)];
  raise_to(count.peak, count.live.fetch_add(bytes, std::memory_order_relaxed) + bytes);
  return p;
}

void Allocator::deallocate(void* p, std::size_t bytes, MemoryUse use) noexcept {
  if (p == nullptr) return;
  do_deallocate(p, bytes);
  uses_[index(use)].live.fetch_sub(bytes, std::memory_order_relaxed);
  allocated_.fetch_sub(bytes, std::memory_order_relaxed);
}

void Allocator::reset_peak() {
  peak_.store(allocated_bytes(), std::memory_order_relaxed);
  for (UseCount& count : uses_)
    count.peak.store(count.live.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void* HostAllocator::do_allocate(std::size_t bytes, std::size_t alignment) {
  void* p = nullptr;
  if (alignment < sizeof(void*)) alignment = sizeof(void*);
  return posix_memalign(&p, alignment, bytes == 0 ? 1 : bytes) == 0 ? p : nullptr;
}

void HostAllocator::do_deallocate(void* p, std::size_t /*bytes*/) noexcept { std::free(p); }

const std::shared_ptr<Allocator>& host_allocator() {
  static const std::shared_ptr<Allocator> instance = std::make_shared<HostAllocator>();
  return instance;
}

}  // namespace vramkit
