// AVX2 + F16C conversion kernels, bit-identical to the scalar functions of convert.cpp (which define the
// rules). Compiled with -mavx2 -mf16c -mfma; convert_dispatch.cpp calls in only after checking the CPU.
//
// Algorithms (8 f32 lanes per vector; the last n mod step elements go through the scalar functions):
//   bf16 <-> f32  bit shifts. Encoding adds 0x7fff plus the lowest kept bit (round to nearest even) and
//   quiets
//                 NaNs by setting bit 6 of the code, like f32_to_bf16.
//   f16 <-> f32   vcvtps2ph (immediate round-to-nearest-even) and vcvtph2ps. They match the scalar code on
//                 every input: f16 subnormals are exact both ways, f32 subnormals round to ±0 either way, and
//                 NaNs keep their sign and upper payload bits with the quiet bit set.
//   fp8 -> f32    through f16: e5m2 is the upper byte of an f16; an e4m3fn magnitude shifted left by 7 is an
//                 f16 with bias 15 instead of 7, so its value times 2^8 (exact) is the e4m3fn value. The
//                 e4m3fn NaN code is patched to the quiet NaN of its sign.
//   f32 -> fp8    encode_magnitude of convert.cpp on integer lanes: normals round by adding (half ulp - 1)
//   plus
//                 the lowest kept bit; magnitudes below the smallest normal are scaled by a power of two
//                 (exact) and rounded by vcvtps2dq in the current rounding mode, as std::nearbyint does in
//                 the scalar code. Then codes above the largest finite one (±Inf included) become the
//                 overflow code, and NaN lanes the NaN code.
// Single-threaded: callers split large buffers if they want threads.
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "core/convert.h"
#include "core/convert_simd.h"

namespace vramkit::detail {
namespace {

__m256i load8_f32_bits(const float* p) {
  return _mm256_castps_si256(_mm256_loadu_ps(p));
}

void bf16_to_f32_avx2(const std::uint16_t* src, float* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(h, 16)));
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

// 8 bf16 codes in the low 16 bits of each 32-bit lane.
__m256i encode8_bf16(__m256i u) {
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
  const __m256i quiet_nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  const __m256i is_nan =
      _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  return _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
}

void f32_to_bf16_avx2(const float* src, std::uint16_t* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    // packus interleaves 128-bit lanes ([a0-3 b0-3 | a4-7 b4-7]); the permute restores a0-7 b0-7.
    const __m256i packed =
        _mm256_packus_epi32(encode8_bf16(load8_f32_bits(src + i)), encode8_bf16(load8_f32_bits(src + i + 8)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_permute4x64_epi64(packed, 0xd8));
  }
  for (; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

void f16_to_f32_avx2(const std::uint16_t* src, float* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  }
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void f32_to_f16_avx2(const float* src, std::uint16_t* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

__m128i load8_u8_as_u16(const std::uint8_t* p) {
  return _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

void f8_e5m2_to_f32_avx2(const std::uint8_t* src, float* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_slli_epi16(load8_u8_as_u16(src + i), 8)));
  for (; i < n; ++i) dst[i] = f8_e5m2_to_f32(src[i]);
}

void f8_e4m3fn_to_f32_avx2(const std::uint8_t* src, float* dst, std::size_t n) {
  const __m128i magnitude_mask = _mm_set1_epi16(0x7f);
  const __m256 two_pow_8 = _mm256_set1_ps(256.0f);
  const __m256 quiet_nan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000));
  const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(0x80000000u)));
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i v = load8_u8_as_u16(src + i);
    const __m128i magnitude = _mm_and_si128(v, magnitude_mask);
    const __m128i as_f16 =
        _mm_or_si128(_mm_slli_epi16(_mm_andnot_si128(magnitude_mask, v), 8), _mm_slli_epi16(magnitude, 7));
    const __m256 value = _mm256_mul_ps(_mm256_cvtph_ps(as_f16), two_pow_8);
    const __m256 is_nan =
        _mm256_castsi256_ps(_mm256_cvtepi16_epi32(_mm_cmpeq_epi16(magnitude, magnitude_mask)));
    const __m256 nan = _mm256_or_ps(quiet_nan, _mm256_and_ps(value, sign_mask));
    _mm256_storeu_ps(dst + i, _mm256_blendv_ps(value, nan, is_nan));
  }
  for (; i < n; ++i) dst[i] = f8_e4m3fn_to_f32(src[i]);
}

// The fp8 format: M mantissa bits, exponent bias B, largest finite code, code for overflow without
// saturation, NaN code. Mirrors encode_magnitude and the overflow rules of f32_to_f8_* in convert.cpp.
template <int M, int B, int kMaxCode, int kOverflowCode, int kNaNCode>
struct Fp8Encoder {
  static constexpr int kMinNormalExp = 1 - B;
  static constexpr int kShift = 23 - M;

  __m256i overflow_code;

  explicit Fp8Encoder(bool saturate)
      : overflow_code(_mm256_set1_epi32(saturate ? kMaxCode : kOverflowCode)) {}

  // 8 codes in the low byte of each 32-bit lane.
  __m256i encode8(__m256i u) const {
    const __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(abs, kShift), _mm256_set1_epi32(1));
    const __m256i rounded =
        _mm256_add_epi32(_mm256_add_epi32(abs, _mm256_set1_epi32((1 << (kShift - 1)) - 1)), lsb);
    const __m256i normal =
        _mm256_sub_epi32(_mm256_srli_epi32(rounded, kShift), _mm256_set1_epi32((127 - B) << M));
    // Exact scaling: the product is at most 2^M, and its rounding to an integer is the subnormal code. Lanes
    // at or above the smallest normal are clamped to it first, so no lane raises the invalid-conversion flag.
    const __m256i min_normal = _mm256_set1_epi32((127 + kMinNormalExp) << 23);
    const __m256 scale = _mm256_set1_ps(static_cast<float>(1 << (M - kMinNormalExp)));
    const __m256 below_normal = _mm256_castsi256_ps(_mm256_min_epi32(abs, min_normal));
    const __m256i subnormal = _mm256_cvtps_epi32(_mm256_mul_ps(below_normal, scale));
    const __m256i is_subnormal = _mm256_cmpgt_epi32(min_normal, abs);
    __m256i code = _mm256_blendv_epi8(normal, subnormal, is_subnormal);
    code = _mm256_blendv_epi8(code, overflow_code, _mm256_cmpgt_epi32(code, _mm256_set1_epi32(kMaxCode)));
    code = _mm256_blendv_epi8(code, _mm256_set1_epi32(kNaNCode),
                              _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000)));
    const __m256i sign = _mm256_and_si256(_mm256_srli_epi32(u, 24), _mm256_set1_epi32(0x80));
    return _mm256_or_si256(code, sign);
  }
};

template <typename Encoder, std::uint8_t (*scalar)(float, bool)>
void f32_to_fp8_avx2(const float* src, std::uint8_t* dst, std::size_t n, bool saturate) {
  const Encoder encoder(saturate);
  // Four vectors of 32-bit codes pack to 32 bytes; packus interleaves 128-bit lanes, the permute undoes it.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i c01 = _mm256_packus_epi32(encoder.encode8(load8_f32_bits(src + i)),
                                            encoder.encode8(load8_f32_bits(src + i + 8)));
    const __m256i c23 = _mm256_packus_epi32(encoder.encode8(load8_f32_bits(src + i + 16)),
                                            encoder.encode8(load8_f32_bits(src + i + 24)));
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(c01, c23), order);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), bytes);
  }
  for (; i < n; ++i) dst[i] = scalar(src[i], saturate);
}

using E4M3FnEncoder = Fp8Encoder<3, 7, 0x7e, 0x7f, 0x7f>;  // no Inf: overflow without saturation is NaN
using E5M2Encoder = Fp8Encoder<2, 15, 0x7b, 0x7c, 0x7e>;   // overflow without saturation is Inf

constexpr ConvertKernels kAvx2Kernels{
    "avx2",
    bf16_to_f32_avx2,
    f16_to_f32_avx2,
    f8_e4m3fn_to_f32_avx2,
    f8_e5m2_to_f32_avx2,
    f32_to_bf16_avx2,
    f32_to_f16_avx2,
    f32_to_fp8_avx2<E4M3FnEncoder, f32_to_f8_e4m3fn>,
    f32_to_fp8_avx2<E5M2Encoder, f32_to_f8_e5m2>,
};

}  // namespace

const ConvertKernels& avx2_convert_kernels_unchecked() {
  return kAvx2Kernels;
}

}  // namespace vramkit::detail

#endif
