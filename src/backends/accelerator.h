// The accelerator as the VRAM manager sees it: capped device memory, pinned host memory, streams that run work
// in order, events that order streams against each other, asynchronous copies and on-device dtype conversion.
// Implemented by the CUDA backend and by the emulated device (backends/emu), which lets CI exercise every VRAM
// behaviour without a GPU.
//
// Ordering contract (the same on both): work enqueued on one stream runs in order; `record(e)` marks the point
// reached so far; `wait(e)` makes later work on that stream wait for that point; host calls that hand memory
// to a stream (copy, convert) must keep it alive until an event recorded after them has completed.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "core/allocator.h"
#include "core/device.h"
#include "core/dtype.h"

namespace vramkit {

namespace ops {
class DeviceOps;
}

class Event {
 public:
  virtual ~Event() = default;
  virtual void synchronize() = 0;  // blocks the host until the recorded point has been reached
  virtual bool ready() = 0;        // true when it has (or was never recorded)
};

class Stream {
 public:
  virtual ~Stream() = default;
  virtual const std::string& name() const = 0;
  // Copies `bytes` from `src` to `dst` (host or device addresses of this accelerator) in stream order.
  virtual void copy(void* dst, const void* src, std::size_t bytes) = 0;
  // Converts n contiguous elements in device memory (the upcast fp8/bf16 -> computation dtype).
  virtual void convert(const void* src, DType from, void* dst, DType to, std::size_t n) = 0;
  // Converts rows x cols elements, multiplying each row by its f32 scale (device memory) on the way: the
  // upcast of per-channel-scaled fp8 weights (vram/fp8_scaling.h).
  virtual void dequantize(const void* src, DType from, void* dst, DType to, std::size_t rows, std::size_t cols,
                          const float* scales) = 0;
  virtual void record(Event& event) = 0;
  virtual void wait(Event& event) = 0;
  virtual void synchronize() = 0;
  // Runs `fn` on a host thread when the stream reaches this point; later work on the stream waits for it. For
  // timing (the trace), so `fn` must be short and must not call into any stream.
  virtual void host_function(std::function<void()> fn) = 0;
};

// The device memory an accelerator manages: its arena (arena_allocator.h), not the whole device.
struct MemoryInfo {
  std::size_t total_bytes = 0;      // the arena's range: the most the run can ever hold
  std::size_t free_bytes = 0;       // what live blocks do not hold (the allocator's cap may allow less)
  std::size_t committed_bytes = 0;  // taken from the device so far: the arena's backed high-water mark
};

class Accelerator {
 public:
  virtual ~Accelerator() = default;
  virtual Device device() const = 0;
  // Device memory: an arena with exact accounting and a hard cap (the VRAM budget).
  virtual const std::shared_ptr<Allocator>& device_allocator() = 0;
  // Page-locked host memory for asynchronous copies, with its own accounting.
  virtual const std::shared_ptr<Allocator>& pinned_allocator() = 0;
  // The stream kernels run on. On the emulated device the calling host thread is the compute stream: work on
  // it runs at once, and wait() blocks the caller until the event is reached.
  virtual Stream& compute_stream() = 0;
  virtual std::unique_ptr<Stream> create_stream(const std::string& name) = 0;
  virtual std::unique_ptr<Event> create_event() = 0;
  virtual MemoryInfo memory_info() = 0;  // of the device arena (MemoryInfo)
  // The ops on this device (ops/device_ops.h) when the CPU cannot read its memory; null where the CPU kernels
  // work on it directly (the emulated device).
  virtual ops::DeviceOps* device_ops() { return nullptr; }
};

}  // namespace vramkit
