// The activation side of the native fp8 linear on the GPU (ops/fp8_linear.h): x's rows quantized to fp8 with
// one f32 scale per row, bit-identical to the CPU kernel's quantization (vram/fp8_scaling.h's per-row rule).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"

namespace vramkit::cuda {

// x [rows, cols] contiguous of x_dtype (f32, bf16, f16) -> codes [rows, cols] of fp8_dtype (f8_e4m3fn,
// f8_e5m2) and scales [rows] f32, on `stream`: scale[r] = amax of the row's finite |x| / fp8_max (1 when that
// is 0), codes = saturating round-to-nearest-even fp8(x / scale[r]) (IEEE f32 division, as on the CPU).
// Throws DTypeError for other dtypes, CudaError when the launch fails.
void launch_quantize_fp8_rows(const void* x, DType x_dtype, std::int64_t rows, std::int64_t cols, void* codes,
                              DType fp8_dtype, float* scales, cudaStream_t stream);

// n f32 ones at dst (the weight scales of an unscaled fp8 weight).
void launch_fill_ones(float* dst, std::int64_t n, cudaStream_t stream);

}  // namespace vramkit::cuda
