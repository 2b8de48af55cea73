#include "vram/fp8_scaling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/convert.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

// Rows of very different magnitudes: per-channel scaling keeps every row's relative error at fp8's precision.
TEST(Fp8Scaling, PerChannelRoundTripIsWithinFp8Precision) {
  const std::size_t rows = 16, cols = 257;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<float> w(rows * cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) w[r * cols + c] = normal(rng) * std::exp2(static_cast<float>(r) - 8.0f) * 1000;
  for (DType fp8 : {DType::f8_e4m3fn, DType::f8_e5m2}) {
    const int mantissa = fp8 == DType::f8_e4m3fn ? 3 : 2;
    const int min_exp = fp8 == DType::f8_e4m3fn ? -9 : -16;  // subnormal spacing, in units of the scale
    std::vector<std::uint8_t> q(w.size());
    std::vector<float> scales(rows), back(w.size());
    quantize_fp8_rows(w.data(), DType::f32, rows, cols, q.data(), fp8, Fp8Scaling::per_channel, scales.data());
    dequantize_rows(q.data(), fp8, rows, cols, back.data(), DType::f32, scales.data());
    for (std::size_t r = 0; r < rows; ++r) {
      float amax = 0;
      for (std::size_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
      EXPECT_FLOAT_EQ(scales[r], amax / (fp8 == DType::f8_e4m3fn ? 448.0f : 57344.0f));
      for (std::size_t c = 0; c < cols; ++c) {
        const float x = w[r * cols + c], y = back[r * cols + c];
        const float bound = std::max(std::fabs(x) * std::exp2(-mantissa - 1.0f), scales[r] * std::exp2(min_exp - 1.0f));
        ASSERT_LE(std::fabs(x - y), bound * 1.0001f) << "row " << r << " col " << c;
      }
    }
  }
}

TEST(Fp8Scaling, ZeroRowsGetUnitScaleAndPlainCastSaturates) {
  const std::vector<float> w = {0, 0, 0, 1000.0f, -2.0f, 0.5f};
  std::vector<std::uint8_t> q(6);
  std::vector<float> scales(2);
  quantize_fp8_rows(w.data(), DType::f32, 2, 3, q.data(), DType::f8_e4m3fn, Fp8Scaling::per_channel, scales.data());
  EXPECT_EQ(scales[0], 1.0f);
  EXPECT_EQ(q[0], 0);
  quantize_fp8_rows(w.data(), DType::f32, 2, 3, q.data(), DType::f8_e4m3fn, Fp8Scaling::none, nullptr);
  EXPECT_EQ(f8_e4m3fn_to_f32(q[3]), 448.0f);  // saturated, not NaN as a plain PyTorch cast would give
  EXPECT_EQ(f8_e4m3fn_to_f32(q[4]), -2.0f);
  std::vector<std::uint16_t> bf(6);
  dequantize_rows(q.data(), DType::f8_e4m3fn, 2, 3, bf.data(), DType::bf16, nullptr);
  EXPECT_EQ(bf16_to_f32(bf[5]), 0.5f);
  EXPECT_THROW(quantize_fp8_rows(w.data(), DType::f32, 2, 3, q.data(), DType::bf16, Fp8Scaling::none, nullptr),
               DTypeError);
}

}  // namespace
}  // namespace vramkit
