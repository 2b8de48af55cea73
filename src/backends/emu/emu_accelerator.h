// The emulated accelerator: host memory made to behave like a GPU for the VRAM manager's purposes.
//  - Device memory is a separate arena (ArenaAllocator) over an address range reserved with mmap(MAP_NORESERVE),
//    capped at the emulated VRAM size, with its own accounting.
//  - Pinned memory is ordinary host memory with its own accounting.
//  - Created streams (h2d, d2h) each run on a worker thread that executes their work in order; copies may be
//    throttled to N GB/s plus a fixed latency per copy, to stand in for a PCIe bus.
//  - The compute stream is the calling thread: kernels (the CPU ops) run synchronously, and wait() blocks the
//    caller until the event is reached, which is exactly how long a GPU's compute stream would stall.
#pragma once

#include <cstddef>
#include <memory>

#include "backends/accelerator.h"
#include "backends/accelerator_registry.h"

namespace vramkit {

struct EmuOptions {
  std::size_t vram_bytes = std::size_t{8} << 30;
  double copy_gbps = 0;          // 0 = as fast as memcpy
  double copy_latency_us = 0;    // added per copy when throttled
};

class EmuAccelerator final : public Accelerator {
 public:
  explicit EmuAccelerator(const EmuOptions& options, int index = 0);
  ~EmuAccelerator() override;

  Device device() const override { return Device::emu(index_); }
  const std::shared_ptr<Allocator>& device_allocator() override { return device_allocator_; }
  const std::shared_ptr<Allocator>& pinned_allocator() override { return pinned_allocator_; }
  Stream& compute_stream() override { return *compute_; }
  std::unique_ptr<Stream> create_stream(const std::string& name) override;
  std::unique_ptr<Event> create_event() override;
  MemoryInfo memory_info() override;
  const EmuOptions& options() const { return options_; }

 private:
  EmuOptions options_;
  int index_;
  std::shared_ptr<Allocator> device_allocator_;
  std::shared_ptr<Allocator> pinned_allocator_;
  std::unique_ptr<Stream> compute_;
  AcceleratorRegistration registration_{*this};  // last: registers the accelerator once it is built
};

}  // namespace vramkit
