// Conversions between f32 and the narrow float formats, scalar and bulk.
//
// Encoding from f32 rounds to nearest, ties to even, with correct subnormals in every target format.
// NaN stays NaN (a quiet NaN of the same sign). Overflow:
//   bf16, f16: to ±Inf (IEEE behaviour; bf16 has f32's range so only rounding can overflow).
//   f8_e4m3fn (max ±448, no Inf) and f8_e5m2 (max ±57344): with saturate (the default) every finite value
//   beyond the largest finite one, and ±Inf, becomes ±max; without saturate they become NaN (e4m3fn) or ±Inf
//   (e5m2), as a plain cast in ml_dtypes/PyTorch does.
// Decoding to f32 is exact for every code; NaN codes decode to NaN of the same sign (quiet, except that bf16
// widens bit for bit).
// The bulk convert() picks an AVX2/F16C path at run time when the CPU has one; results are bit-identical to
// the scalar functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace vramkit {

float bf16_to_f32(std::uint16_t h);
std::uint16_t f32_to_bf16(float f);
float f16_to_f32(std::uint16_t h);
std::uint16_t f32_to_f16(float f);
float f8_e4m3fn_to_f32(std::uint8_t v);
std::uint8_t f32_to_f8_e4m3fn(float f, bool saturate = true);
float f8_e5m2_to_f32(std::uint8_t v);
std::uint8_t f32_to_f8_e5m2(float f, bool saturate = true);

inline constexpr float kF8E4M3FnMax = 448.0f;
inline constexpr float kF8E5M2Max = 57344.0f;

struct ConvertOptions {
  bool saturate_fp8 = true;
};

// Converts n elements from `src` (dtype `from`) to `dst` (dtype `to`); both contiguous, not overlapping
// unless identical dtypes. Narrow float targets go through f32: f64 and integer sources round once to f32
// first (via f64). Integer and bool targets take the value rounded toward zero and clamped to the target's
// range, NaN becoming 0; bool is (value != 0), so NaN is true.
void convert(const void* src, DType from, void* dst, DType to, std::size_t n,
             const ConvertOptions& options = {});

// Strided form: element strides (in elements of each dtype) for source and destination.
void convert_strided(const void* src, DType from, std::int64_t src_stride, void* dst, DType to,
                     std::int64_t dst_stride, std::size_t n, const ConvertOptions& options = {});

}  // namespace vramkit
