// The CUDA accelerator: one device, one arena of device memory reserved with a single cudaMalloc (so the
// budget is a hard cap and steady state never calls the driver's allocator), page-locked host memory from
// cudaHostAlloc with accounting, non-blocking streams and timing-free events, and the ops on its tensors
// (cuda::CudaDeviceOps, launched on the compute stream). Every call is checked.
#pragma once

#include <cstddef>
#include <memory>

#include "backends/accelerator.h"
#include "backends/accelerator_registry.h"

namespace vramkit {

namespace cuda {
class CudaDeviceOps;
}

class CudaAccelerator final : public Accelerator {
 public:
  // Reserves `arena_bytes` of device memory on CUDA device `index`. Throws ArgumentError for a missing device,
  // OutOfMemory when the reservation fails.
  CudaAccelerator(int index, std::size_t arena_bytes);
  ~CudaAccelerator() override;

  Device device() const override { return Device::cuda(index_); }
  const std::shared_ptr<Allocator>& device_allocator() override { return device_allocator_; }
  const std::shared_ptr<Allocator>& pinned_allocator() override { return pinned_allocator_; }
  Stream& compute_stream() override { return *compute_; }
  std::unique_ptr<Stream> create_stream(const std::string& name) override;
  std::unique_ptr<Event> create_event() override;
  MemoryInfo memory_info() override;
  ops::DeviceOps* device_ops() override;

 private:
  int index_;
  std::shared_ptr<Allocator> device_allocator_;
  std::shared_ptr<Allocator> pinned_allocator_;
  std::unique_ptr<Stream> compute_;
  // Declared after the stream and the allocator it uses, so that it is destroyed before them.
  std::unique_ptr<cuda::CudaDeviceOps> device_ops_;
  AcceleratorRegistration registration_{*this};  // last: registers the accelerator once it is built
};

}  // namespace vramkit
