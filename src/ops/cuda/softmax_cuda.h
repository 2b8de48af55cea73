// Launcher of the softmax over the last dimension on the GPU (the CPU computes it only inside ops::attention;
// this is the standalone op: y = exp(x - max) / Σ exp(x - max) per row).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"

namespace vramkit::cuda {

// x and y [rows, cols] contiguous of `dtype` (f32 / bf16 / f16) in device memory; y may be x. A row whose
// elements are all -inf (everything masked) gives zeros, the convention of ops/attention.h for fully masked
// rows; NaN anywhere in a row makes the row NaN. Throws ArgumentError for negative sizes, DTypeError,
// CudaError when the launch fails.
void launch_softmax(const void* x, void* y, DType dtype, std::int64_t rows, std::int64_t cols,
                    cudaStream_t stream);

}  // namespace vramkit::cuda
