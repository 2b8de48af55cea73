// The activation side of the native fp8 linear on the GPU (ops/fp8_linear.h): x's rows quantized to fp8 with
// one f32 scale per row, bit-identical to the CPU kernel's quantization (vram/fp8_scaling.h's per-row rule),
// and the epilogue that scales the fp8 GEMM's f32 sums into y.
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

// The epilogue of the native fp8 linear (gemm_cuda.h's Fp8LinearGemm): acc [rows, cols] f32 (the fp8 GEMM's
// unscaled sums), row_scales [rows] (x's), col_scales [cols] (the weight's), bias [cols] of y_dtype or null
// -> y [rows, cols] of y_dtype (f32, bf16, f16): round(row_scale·col_scale·acc + bias), the CPU kernel's f32
// operations in its order (bit-identical given the same sums). Throws DTypeError, CudaError.
void launch_scale_fp8_accumulators(const float* acc, const float* row_scales, const float* col_scales,
                                   const void* bias, void* y, DType y_dtype, std::int64_t rows,
                                   std::int64_t cols, cudaStream_t stream);

// n f32 ones at dst (the weight scales of an unscaled fp8 weight).
void launch_fill_ones(float* dst, std::int64_t n, cudaStream_t stream);

}  // namespace vramkit::cuda
