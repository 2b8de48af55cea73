#include "backends/cuda/cuda_accelerator.h"

#include <cuda_runtime_api.h>

#include "backends/arena_allocator.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_device.h"
#include "backends/cuda/cuda_virtual_memory.h"
#include "ops/cuda/convert_cuda.h"
#include "ops/cuda/cuda_device_ops.h"
#include "vramkit/log.h"

namespace vramkit {
namespace {

using cuda::DeviceGuard;

class PinnedAllocator final : public Allocator {
 public:
  Device device() const override { return Device::cpu(); }

 protected:
  void* do_allocate(std::size_t bytes, std::size_t /*alignment: cudaHostAlloc gives page alignment*/) override {
    void* p = nullptr;
    const cudaError_t status = cudaHostAlloc(&p, bytes == 0 ? 1 : bytes, cudaHostAllocPortable);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      return nullptr;  // Allocator::allocate reports OutOfMemory
    }
    VRAMKIT_CUDA_CHECK(status);
    return p;
  }
  void do_deallocate(void* p, std::size_t /*bytes*/) noexcept override { cudaFreeHost(p); }
};

class CudaEvent final : public Event {
 public:
  explicit CudaEvent(int device) : device_(device) {
    DeviceGuard guard(device_);
    VRAMKIT_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
  }
  ~CudaEvent() override { cudaEventDestroy(event_); }
  void synchronize() override { VRAMKIT_CUDA_CHECK(cudaEventSynchronize(event_)); }
  bool ready() override {
    const cudaError_t status = cudaEventQuery(event_);
    if (status == cudaErrorNotReady) return false;
    VRAMKIT_CUDA_CHECK(status);
    return true;
  }
  cudaEvent_t get() const { return event_; }

 private:
  int device_;
  cudaEvent_t event_ = nullptr;
};

CudaEvent& cuda_event(Event& e, const std::string& stream) {
  auto* c = dynamic_cast<CudaEvent*>(&e);
  if (!c) throw ArgumentError("stream " + stream + ": the event does not belong to a CUDA device");
  return *c;
}

class CudaStream final : public Stream {
 public:
  CudaStream(int device, std::string name) : device_(device), name_(std::move(name)) {
    DeviceGuard guard(device_);
    VRAMKIT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  ~CudaStream() override { cudaStreamDestroy(stream_); }

  const std::string& name() const override { return name_; }
  void copy(void* dst, const void* src, std::size_t bytes) override {
    VRAMKIT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream_));
  }
  void convert(const void* src, DType from, void* dst, DType to, std::size_t n) override {
    DeviceGuard guard(device_);
    cuda::launch_convert(src, from, dst, to, n, true, stream_);
  }
  void dequantize(const void* src, DType from, void* dst, DType to, std::size_t rows, std::size_t cols,
                  const float* scales) override {
    DeviceGuard guard(device_);
    cuda::launch_dequantize_rows(src, from, dst, to, rows, cols, scales, stream_);
  }
  void record(Event& event) override { VRAMKIT_CUDA_CHECK(cudaEventRecord(cuda_event(event, name_).get(), stream_)); }
  void wait(Event& event) override {
    VRAMKIT_CUDA_CHECK(cudaStreamWaitEvent(stream_, cuda_event(event, name_).get(), 0));
  }
  void synchronize() override { VRAMKIT_CUDA_CHECK(cudaStreamSynchronize(stream_)); }
  cudaStream_t get() const { return stream_; }
  void host_function(std::function<void()> fn) override {
    auto* heap = new std::function<void()>(std::move(fn));
    const cudaError_t status = cudaLaunchHostFunc(
        stream_,
        [](void* p) {
          auto* f = static_cast<std::function<void()>*>(p);
          (*f)();
          delete f;
        },
        heap);
    if (status != cudaSuccess) delete heap;
    VRAMKIT_CUDA_CHECK(status);
  }

 private:
  int device_;
  std::string name_;
  cudaStream_t stream_ = nullptr;
};

// The device arena: addresses for `arena_bytes` backed on demand (cuda_virtual_memory.h), so the GPU gives
// the run only its high-water mark; where the driver has no virtual memory management, one cudaMalloc of the
// whole size, as before.
std::shared_ptr<ArenaAllocator> make_device_arena(int index, std::size_t arena_bytes) {
  const std::size_t bytes = arena_bytes / ArenaAllocator::kGranularity * ArenaAllocator::kGranularity;
  if (bytes == 0) return std::make_shared<ArenaAllocator>(Device::cuda(index), nullptr, 0);
  try {
    auto range = std::make_shared<cuda::VirtualDeviceRange>(index, bytes);
    return std::make_shared<ArenaAllocator>(
        Device::cuda(index), range->base(), bytes,
        [range, index](void*) mutable {
          int previous = 0;  // unchecked on purpose: this runs in a destructor
          cudaGetDevice(&previous);
          cudaSetDevice(index);
          cudaDeviceSynchronize();  // unmapping does not wait for the kernels that may still use the range
          range.reset();
          cudaSetDevice(previous);
        },
        [range](std::size_t end) { return range->commit(end); });
  } catch (const CudaError& e) {
    log_info(std::string("cuda:") + std::to_string(index) + ": no on-demand device memory (" + e.what() +
             "); reserving the whole arena up front");
  }
  void* base = nullptr;
  const cudaError_t status = cudaMalloc(&base, bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw OutOfMemory(Device::cuda(index).str(), bytes, "reserving the device arena");
  }
  VRAMKIT_CUDA_CHECK(status);
  return std::make_shared<ArenaAllocator>(Device::cuda(index), base, bytes, [index](void* p) {
    int previous = 0;  // unchecked on purpose: this runs in a destructor
    cudaGetDevice(&previous);
    cudaSetDevice(index);
    cudaFree(p);
    cudaSetDevice(previous);
  });
}

}  // namespace

CudaAccelerator::CudaAccelerator(int index, std::size_t arena_bytes) : index_(index) {
  const int n = cuda::device_count();
  if (index < 0 || index >= n)
    throw ArgumentError("CUDA device " + std::to_string(index) + " does not exist (" + std::to_string(n) +
                        " device(s) found)");
  DeviceGuard guard(index);
  device_allocator_ = make_device_arena(index, arena_bytes);
  pinned_allocator_ = std::make_shared<PinnedAllocator>();
  auto compute = std::make_unique<CudaStream>(index, "compute");
  device_ops_ = std::make_unique<cuda::CudaDeviceOps>(index, compute->get(), device_allocator_);
  compute_ = std::move(compute);
}

CudaAccelerator::~CudaAccelerator() = default;

std::unique_ptr<Stream> CudaAccelerator::create_stream(const std::string& name) {
  return std::make_unique<CudaStream>(index_, name);
}

ops::DeviceOps* CudaAccelerator::device_ops() {
  return device_ops_.get();
}

std::unique_ptr<Event> CudaAccelerator::create_event() { return std::make_unique<CudaEvent>(index_); }

MemoryInfo CudaAccelerator::memory_info() {
  return static_cast<ArenaAllocator&>(*device_allocator_).memory_info();
}

}  // namespace vramkit
