// The AVX2 conversion kernels against the scalar ones, bit for bit (NaN payloads included): over the golden
// sweep, every 16-bit and 8-bit code, and random bit patterns at every length and misalignment around the
// vector widths. Skipped on CPUs without AVX2/F16C, where convert() uses the scalar kernels anyway.
#include "core/convert_simd.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "convert_golden.h"
#include "core/convert.h"

namespace vramkit {
namespace {

using detail::ConvertKernels;

#define GET_AVX2_OR_SKIP(simd)                                          \
  const ConvertKernels* simd_ptr = detail::avx2_convert_kernels();      \
  if (simd_ptr == nullptr) GTEST_SKIP() << "CPU without AVX2/F16C/FMA"; \
  const ConvertKernels& simd = *simd_ptr

// Compares one encode direction on src (any length, any offset) for both fp8 saturation modes.
void expect_same_encodes(const ConvertKernels& simd, const float* src, std::size_t n,
                         const std::string& what) {
  const ConvertKernels& scalar = detail::scalar_convert_kernels();
  std::vector<std::uint16_t> a16(n + 1, 0x5a5a), b16(n + 1, 0x5a5a);
  simd.f32_to_bf16(src, a16.data(), n);
  scalar.f32_to_bf16(src, b16.data(), n);
  ASSERT_EQ(a16, b16) << what << ": f32 -> bf16, n " << n;
  simd.f32_to_f16(src, a16.data(), n);
  scalar.f32_to_f16(src, b16.data(), n);
  ASSERT_EQ(a16, b16) << what << ": f32 -> f16, n " << n;
  for (bool saturate : {true, false}) {
    std::vector<std::uint8_t> a8(n + 1, 0x5a), b8(n + 1, 0x5a);
    simd.f32_to_f8_e4m3fn(src, a8.data(), n, saturate);
    scalar.f32_to_f8_e4m3fn(src, b8.data(), n, saturate);
    ASSERT_EQ(a8, b8) << what << ": f32 -> e4m3fn, saturate " << saturate << ", n " << n;
    simd.f32_to_f8_e5m2(src, a8.data(), n, saturate);
    scalar.f32_to_f8_e5m2(src, b8.data(), n, saturate);
    ASSERT_EQ(a8, b8) << what << ": f32 -> e5m2, saturate " << saturate << ", n " << n;
  }
}

// Bitwise comparison of decoded floats (vector<float> == would call NaN != NaN).
std::vector<std::uint32_t> bits_of(const std::vector<float>& v) {
  std::vector<std::uint32_t> out(v.size());
  std::memcpy(out.data(), v.data(), v.size() * sizeof(float));
  return out;
}

template <typename Code>
void expect_same_decodes(const ConvertKernels& simd, const Code* src, std::size_t n,
                         const std::string& what) {
  const ConvertKernels& scalar = detail::scalar_convert_kernels();
  std::vector<float> a(n + 1, 7.0f), b(n + 1, 7.0f);
  if constexpr (sizeof(Code) == 2) {
    simd.bf16_to_f32(src, a.data(), n);
    scalar.bf16_to_f32(src, b.data(), n);
    ASSERT_EQ(bits_of(a), bits_of(b)) << what << ": bf16 -> f32, n " << n;
    simd.f16_to_f32(src, a.data(), n);
    scalar.f16_to_f32(src, b.data(), n);
    ASSERT_EQ(bits_of(a), bits_of(b)) << what << ": f16 -> f32, n " << n;
  } else {
    simd.f8_e4m3fn_to_f32(src, a.data(), n);
    scalar.f8_e4m3fn_to_f32(src, b.data(), n);
    ASSERT_EQ(bits_of(a), bits_of(b)) << what << ": e4m3fn -> f32, n " << n;
    simd.f8_e5m2_to_f32(src, a.data(), n);
    scalar.f8_e5m2_to_f32(src, b.data(), n);
    ASSERT_EQ(bits_of(a), bits_of(b)) << what << ": e5m2 -> f32, n " << n;
  }
}

TEST(ConvertSimd, EncodesTheGoldenSweepLikeScalar) {
  GET_AVX2_OR_SKIP(simd);
  const auto& inputs = convert_test::encode_sweep().inputs;
  expect_same_encodes(simd, inputs.data(), inputs.size(), "sweep");
}

TEST(ConvertSimd, DecodesEveryCodeLikeScalar) {
  GET_AVX2_OR_SKIP(simd);
  std::vector<std::uint16_t> codes16(65536);
  for (std::size_t c = 0; c < codes16.size(); ++c) codes16[c] = static_cast<std::uint16_t>(c);
  expect_same_decodes(simd, codes16.data(), codes16.size(), "all 16-bit codes");
  std::vector<std::uint8_t> codes8(256);
  for (std::size_t c = 0; c < codes8.size(); ++c) codes8[c] = static_cast<std::uint8_t>(c);
  expect_same_decodes(simd, codes8.data(), codes8.size(), "all 8-bit codes");
}

// Random bit patterns (every class: NaN payloads, subnormals, huge) and random values near the fp8 ranges, at
// lengths 0..100 and offsets 0..3 elements, so the vector loops and their scalar tails both run.
TEST(ConvertSimd, RandomDataAtEveryLengthAndOffset) {
  GET_AVX2_OR_SKIP(simd);
  std::mt19937 rng(1234);
  std::vector<float> values(4096);
  std::uniform_real_distribution<float> exponent(-20.0f, 17.0f);
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = i % 2 ? std::bit_cast<float>(static_cast<std::uint32_t>(rng()))
                      : (rng() % 2 ? -1.0f : 1.0f) * std::exp2(exponent(rng));
  }
  std::vector<std::uint16_t> codes16(values.size());
  std::vector<std::uint8_t> codes8(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    codes16[i] = static_cast<std::uint16_t>(rng());
    codes8[i] = static_cast<std::uint8_t>(rng());
  }
  for (std::size_t offset = 0; offset < 4; ++offset) {
    for (std::size_t n = 0; n <= 100; ++n) {
      const std::string what = "offset " + std::to_string(offset);
      expect_same_encodes(simd, values.data() + offset, n, what);
      expect_same_decodes(simd, codes16.data() + offset, n, what);
      expect_same_decodes(simd, codes8.data() + offset, n, what);
      if (HasFatalFailure()) return;
    }
  }
  expect_same_encodes(simd, values.data() + 1, values.size() - 1, "long");
  expect_same_decodes(simd, codes16.data() + 3, codes16.size() - 3, "long");
  expect_same_decodes(simd, codes8.data() + 5, codes8.size() - 5, "long");
}

TEST(ConvertSimd, BulkConvertUsesTheVectorKernelsUnlessForcedScalar) {
  const ConvertKernels* simd = detail::avx2_convert_kernels();
  EXPECT_EQ(&detail::active_convert_kernels(), simd != nullptr ? simd : &detail::scalar_convert_kernels());
  {
    detail::ScalarConvertScope outer;
    detail::ScalarConvertScope inner;
    EXPECT_EQ(&detail::active_convert_kernels(), &detail::scalar_convert_kernels());
  }
  EXPECT_EQ(&detail::active_convert_kernels(), simd != nullptr ? simd : &detail::scalar_convert_kernels());
}

}  // namespace
}  // namespace vramkit
