// Checked CUDA runtime calls: every call goes through VRAMKIT_CUDA_CHECK, which turns a failure into a
// vramkit::CudaError carrying the code, the runtime's message, the expression and the call site. Also the
// guard that selects a device for a scope.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "vramkit/error.h"

namespace vramkit::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t code, const char* expr, const char* file, int line) {
  throw CudaError(static_cast<int>(code), std::string(cudaGetErrorString(code)) + " in " + expr, file, line);
}

}  // namespace vramkit::cuda

#define VRAMKIT_CUDA_CHECK(expr)                                                     \
  do {                                                                               \
    const cudaError_t vramkit_cuda_status_ = (expr);                                 \
    if (vramkit_cuda_status_ != cudaSuccess)                                         \
      ::vramkit::cuda::throw_cuda_error(vramkit_cuda_status_, #expr, __FILE__, __LINE__); \
  } while (0)

namespace vramkit::cuda {

// Makes `index` the current device for the lifetime of the guard (CUDA calls act on the current device).
class DeviceGuard {
 public:
  explicit DeviceGuard(int index) {
    VRAMKIT_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != index) VRAMKIT_CUDA_CHECK(cudaSetDevice(index));
  }
  ~DeviceGuard() { cudaSetDevice(previous_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace vramkit::cuda
