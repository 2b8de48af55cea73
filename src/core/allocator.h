// Allocator: the one interface through which every byte of tensor memory is obtained, so that every byte is
// accounted. Each allocator knows its device, counts what is live and its peak, and refuses above a hard cap
// with OutOfMemory (the VRAM manager sets the cap of the device arena; the host allocator has none by default).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/device.h"

namespace vramkit {

inline constexpr std::size_t kDefaultAlignment = 64;
inline constexpr std::size_t kNoCap = ~std::size_t{0};

// What a block holds, counted apart so that a device's memory can be told by category: the VRAM manager's
// resident weights and its staging ring, and everything else (activations, op and library scratch).
enum class MemoryUse : std::uint8_t { other, weights, staging };
inline constexpr std::size_t kMemoryUses = 3;

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual Device device() const = 0;

  // At least `bytes` bytes aligned to `alignment` (a power of two), counted under `use`. Throws OutOfMemory
  // when the cap or the backing memory refuses; never returns null. Zero bytes gives a valid, unique pointer.
  void* allocate(std::size_t bytes, std::size_t alignment = kDefaultAlignment,
                 MemoryUse use = MemoryUse::other);
  // `bytes` and `use` as allocated.
  void deallocate(void* p, std::size_t bytes, MemoryUse use = MemoryUse::other) noexcept;

  std::size_t allocated_bytes() const { return allocated_.load(std::memory_order_relaxed); }
  std::size_t peak_bytes() const { return peak_.load(std::memory_order_relaxed); }
  // Live bytes of one use, and their own peak (reached at its own moment: the peaks of the uses add up to at
  // least peak_bytes()).
  std::size_t allocated_bytes(MemoryUse use) const {
    return uses_[index(use)].live.load(std::memory_order_relaxed);
  }
  std::size_t peak_bytes(MemoryUse use) const {
    return uses_[index(use)].peak.load(std::memory_order_relaxed);
  }
  std::size_t cap_bytes() const { return cap_.load(std::memory_order_relaxed); }
  void set_cap(std::size_t bytes) { cap_.store(bytes, std::memory_order_relaxed); }
  // Every peak, the total's and each use's, restarts from what is live now.
  void reset_peak();

 protected:
  // Null when the backing memory refuses, or an exception (OutOfMemory with the reason); either way
  // allocate() gives back the bytes it reserved against the cap.
  virtual void* do_allocate(std::size_t bytes, std::size_t alignment) = 0;
  virtual void do_deallocate(void* p, std::size_t bytes) noexcept = 0;

 private:
  struct UseCount {
    std::atomic<std::size_t> live{0}, peak{0};
  };
  static std::size_t index(MemoryUse use) { return static_cast<std::size_t>(use); }

  std::atomic<std::size_t> allocated_{0};
  std::atomic<std::size_t> peak_{0};
  std::atomic<std::size_t> cap_{kNoCap};
  UseCount uses_[kMemoryUses];
};

// Pageable host memory from the C++ runtime, aligned.
class HostAllocator final : public Allocator {
 public:
  Device device() const override { return Device::cpu(); }

 protected:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes) noexcept override;
};

// The process-wide host allocator used by Tensor::empty on the cpu device.
const std::shared_ptr<Allocator>& host_allocator();

}  // namespace vramkit
