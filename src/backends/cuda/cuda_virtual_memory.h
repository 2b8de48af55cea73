// A range of device addresses backed by physical memory on demand (CUDA's virtual memory management:
// cuMemAddressReserve, then cuMemCreate + cuMemMap + cuMemSetAccess per piece), for the accelerator's arena.
// The arena reserves the whole free memory as addresses but takes from the GPU only what its high-water mark
// needs, so the memory the driver (nvidia-smi, another process) sees this run hold is the memory it uses.
//
// The driver's functions are looked up through the runtime (cudaGetDriverEntryPointByVersion), so nothing
// links libcuda and a machine without a driver still loads every binary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace vramkit::cuda {

class VirtualDeviceRange {
 public:
  // Backing grows in pieces of at least this many bytes (rounded to the driver's allocation granularity,
  // 2 MiB on current GPUs): few mappings, and at most this much held beyond the high-water mark.
  static constexpr std::size_t kGrowthStep = std::size_t{32} << 20;

  // Reserves `bytes` of addresses on device `device` (rounded up to the granularity), nothing backed yet.
  // Throws CudaError when the driver has no virtual memory management or refuses the reservation: the
  // caller then falls back to one cudaMalloc.
  VirtualDeviceRange(int device, std::size_t bytes);
  // Unmaps and frees everything; the caller makes sure no work still uses the range.
  ~VirtualDeviceRange();
  VirtualDeviceRange(const VirtualDeviceRange&) = delete;
  VirtualDeviceRange& operator=(const VirtualDeviceRange&) = delete;

  void* base() const;
  std::size_t size() const;
  std::size_t committed() const;
  // Backs [base, base + end) (end <= size()) with new physical memory where it is not yet: returns the bytes
  // now backed, a multiple of the granularity, or the old figure when the device is out of memory. Throws
  // CudaError for any other driver failure. Not thread-safe (the arena calls it under its lock).
  std::size_t commit(std::size_t end);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vramkit::cuda
