// Scalar conversions: the definition of the rounding rules, which every bulk kernel set reproduces bit for
// bit (convert_simd.h).
#include "core/convert.h"

#include <bit>
#include <cmath>
#include <limits>

namespace vramkit {
namespace {

constexpr std::uint32_t kF32Abs = 0x7fffffffu;
constexpr std::uint32_t kF32Inf = 0x7f800000u;

// 2^e as a normal f32 (e in [-126, 127]); multiplying by it is exact and cheaper than std::ldexp.
constexpr float pow2(int e) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(127 + e) << 23);
}

// Magnitude code of |f| (finite, not NaN) in a binary format with M mantissa bits and exponent bias B,
// rounded to nearest even. The code may exceed the format's largest finite code; the caller decides what
// overflow is.
template <int M, int B>
std::uint32_t encode_magnitude(std::uint32_t abs_bits) {
  constexpr int kMinNormalExp = 1 - B;  // unbiased exponent of the smallest normal
  const int exp = static_cast<int>(abs_bits >> 23) - 127;
  if (exp < kMinNormalExp) {
    // Subnormal (or zero) in the target: count units of 2^(kMinNormalExp - M). Scaling by a power of two is
    // exact in f32 and nearbyint rounds ties to even in the default rounding mode; a result of 2^M is the
    // smallest normal, whose code is also 2^M.
    const float scaled = std::bit_cast<float>(abs_bits) * pow2(M - kMinNormalExp);
    return static_cast<std::uint32_t>(std::nearbyint(scaled));
  }
  // Normal: rebias the exponent and round the mantissa; a carry out of the mantissa moves into the exponent.
  constexpr int kShift = 23 - M;
  const std::uint32_t rounded = abs_bits + ((1u << (kShift - 1)) - 1u) + ((abs_bits >> kShift) & 1u);
  return (rounded >> kShift) - (static_cast<std::uint32_t>(127 - B) << M);
}

float decode_minifloat(std::uint32_t exp_field, std::uint32_t mant, int mant_bits, int bias) {
  if (exp_field == 0) return static_cast<float>(mant) * pow2(1 - bias - mant_bits);
  return static_cast<float>(mant | (1u << mant_bits)) * pow2(static_cast<int>(exp_field) - bias - mant_bits);
}

}  // namespace

float bf16_to_f32(std::uint16_t h) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

std::uint16_t f32_to_bf16(float f) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  if ((u & kF32Abs) > kF32Inf) return static_cast<std::uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  // NaN comes out quiet with its payload, as the F16C instruction makes it.
  if (exp == 0x1f) return std::bit_cast<float>(sign | kF32Inf | (mant != 0 ? 0x400000u : 0u) | (mant << 13));
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
  const float mag = decode_minifloat(0, mant, 10, 15);
  return sign ? -mag : mag;
}

std::uint16_t f32_to_f16(float f) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  const std::uint32_t abs = u & kF32Abs;
  if (abs > kF32Inf) return static_cast<std::uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x1ffu));
  if (abs == kF32Inf) return static_cast<std::uint16_t>(sign | 0x7c00u);
  const std::uint32_t code = encode_magnitude<10, 15>(abs);
  return static_cast<std::uint16_t>(sign | (code > 0x7bffu ? 0x7c00u : code));
}

float f8_e4m3fn_to_f32(std::uint8_t v) {
  const std::uint32_t exp = (v >> 3) & 0xfu;
  const std::uint32_t mant = v & 0x7u;
  const bool negative = (v & 0x80u) != 0;
  if (exp == 0xf && mant == 0x7)
    return negative ? -std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::quiet_NaN();
  const float mag = decode_minifloat(exp, mant, 3, 7);
  return negative ? -mag : mag;
}

std::uint8_t f32_to_f8_e4m3fn(float f, bool saturate) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (u >> 24) & 0x80u;
  const std::uint32_t abs = u & kF32Abs;
  constexpr std::uint32_t kMaxCode = 0x7e, kNaNCode = 0x7f;
  if (abs > kF32Inf) return static_cast<std::uint8_t>(sign | kNaNCode);
  std::uint32_t code = abs == kF32Inf ? kMaxCode + 1 : encode_magnitude<3, 7>(abs);
  if (code > kMaxCode) code = saturate ? kMaxCode : kNaNCode;
  return static_cast<std::uint8_t>(sign | code);
}

// e5m2 is the upper byte of an f16 (same sign, exponent and bias), so its decoding is the f16 one.
float f8_e5m2_to_f32(std::uint8_t v) {
  return f16_to_f32(static_cast<std::uint16_t>(v << 8));
}

std::uint8_t f32_to_f8_e5m2(float f, bool saturate) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (u >> 24) & 0x80u;
  const std::uint32_t abs = u & kF32Abs;
  constexpr std::uint32_t kMaxCode = 0x7b, kInfCode = 0x7c, kNaNCode = 0x7e;
  if (abs > kF32Inf) return static_cast<std::uint8_t>(sign | kNaNCode);
  std::uint32_t code = abs == kF32Inf ? kInfCode : encode_magnitude<2, 15>(abs);
  if (code > kMaxCode) code = saturate ? kMaxCode : kInfCode;
  return static_cast<std::uint8_t>(sign | code);
}

}  // namespace vramkit
