// Storage precision of managed weights: quantizing to fp8 at load, with one f32 scale per output channel (row)
// by default or as a plain saturating cast (DiffSynth-Studio parity), and the matching dequantization that the
// upcast applies right before compute.
//
//   per-row:   scale[r] = max|W[r, :]| / fp8_max (1 when the row is all zeros), q = fp8(W / scale[r])
//   dequant:   W'[r, c] = computation_dtype(f32(q[r, c]) * scale[r])   (one f32 multiply: no FMA to differ)
#pragma once

#include <cstddef>

#include "core/dtype.h"

namespace vramkit {

enum class Fp8Scaling { per_channel, none };

// Quantizes rows x cols elements of `src` (any float dtype) into fp8 `dst` (f8_e4m3fn or f8_e5m2) and writes
// one f32 scale per row into `scales` (when scaling is per_channel; otherwise scales may be null).
void quantize_fp8_rows(const void* src, DType src_dtype, std::size_t rows, std::size_t cols, void* dst,
                       DType fp8_dtype, Fp8Scaling scaling, float* scales);

// Host form of the upcast: rows x cols fp8 (or any float dtype) elements to `dst_dtype`, multiplied by the
// row's scale when `scales` is not null.
void dequantize_rows(const void* src, DType src_dtype, std::size_t rows, std::size_t cols, void* dst,
                     DType dst_dtype, const float* scales);

}  // namespace vramkit
