// Checked CUDA runtime calls: every call goes through VRAMKIT_CUDA_CHECK, which turns a failure into a
// vramkit::CudaError carrying the code, the runtime's message, the expression and the call site.
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
