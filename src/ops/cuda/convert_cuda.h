// Device-side dtype conversion (the fp8/bf16 -> computation-dtype upcast the VRAM manager runs right before
// compute, and the narrowing casts). Same rounding contract as core/convert.h.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "core/dtype.h"

namespace vramkit::cuda {

// True for the dtypes launch_convert accepts on either side: f32, f16, bf16, f8_e4m3fn, f8_e5m2.
bool convert_supported(DType dt);

// Converts n contiguous elements from device memory `src` to device memory `dst` on `stream`.
// Throws DTypeError for an unsupported pair, CudaError when the launch fails.
void launch_convert(const void* src, DType from, void* dst, DType to, std::size_t n, bool saturate_fp8,
                    cudaStream_t stream);

// rows x cols elements, each row multiplied by its f32 scale (device memory) between decoding and encoding:
// dst = to(f32(src) * scales[row]), bit-identical to vram/fp8_scaling.h's dequantize_rows.
void launch_dequantize_rows(const void* src, DType from, void* dst, DType to, std::size_t rows, std::size_t cols,
                            const float* scales, cudaStream_t stream);

}  // namespace vramkit::cuda
