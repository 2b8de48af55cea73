// ops::fp8_linear against a double-precision reference of its contract (the per-row quantization of x done
// with the scalar conversions, the product in double), its argument checks, and its error against the
// unquantized product at Qwen-Image's shapes next to weight-only fp8 and bf16.
#include "ops/fp8_linear.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "core/convert.h"
#include "op_test_util.h"
#include "ops/linear.h"
#include "vram/fp8_scaling.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

using test::expect_close;
using test::expect_error;
using test::random_normal;
using test::random_tensor;
using test::values;

// fp8(v) decoded back to f32 (saturating, round to nearest even).
float round_to_fp8(float v, DType fp8) {
  return fp8 == DType::f8_e4m3fn ? f8_e4m3fn_to_f32(f32_to_f8_e4m3fn(v)) : f8_e5m2_to_f32(f32_to_f8_e5m2(v));
}

// The contract of ops/fp8_linear.h in double from the stored values: x's rows quantized with the scalar
// conversions, each product and sum in double, the scales and bias applied to the exact sum. `magnitude`
// gets (s_x·s_w)·Σ|q_x·q_w| per output, which bounds the f32 accumulation error.
std::vector<double> reference_fp8_linear(const Tensor& x, const Tensor& w, const Tensor& scale,
                                         const Tensor& bias, std::vector<double>* magnitude) {
  const std::int64_t in = w.size(1), out = w.size(0);
  std::int64_t rows = 1;
  for (int d = 0; d + 1 < x.rank(); ++d) rows *= x.size(d);
  const float fp8_max = w.dtype() == DType::f8_e4m3fn ? kF8E4M3FnMax : kF8E5M2Max;
  const std::vector<float> xv = x.to_floats();
  const auto wv = values(w);
  const auto sv = scale.defined() ? values(scale) : std::vector<double>(static_cast<std::size_t>(out), 1.0);
  const auto bv = bias.defined() ? values(bias) : std::vector<double>(static_cast<std::size_t>(out), 0.0);
  std::vector<double> y(static_cast<std::size_t>(rows * out));
  magnitude->assign(y.size(), 0.0);
  std::vector<double> q(static_cast<std::size_t>(in));
  for (std::int64_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (std::int64_t i = 0; i < in; ++i)
      if (std::isfinite(xv[static_cast<std::size_t>(r * in + i)]))
        amax = std::max(amax, std::fabs(xv[static_cast<std::size_t>(r * in + i)]));
    const float sx = amax > 0 ? amax / fp8_max : 1.0f;
    for (std::int64_t i = 0; i < in; ++i)
      q[static_cast<std::size_t>(i)] = round_to_fp8(xv[static_cast<std::size_t>(r * in + i)] / sx, w.dtype());
    for (std::int64_t o = 0; o < out; ++o) {
      double acc = 0, mag = 0;
      for (std::int64_t i = 0; i < in; ++i) {
        const double p = q[static_cast<std::size_t>(i)] * wv[static_cast<std::size_t>(o * in + i)];
        acc += p;
        mag += std::abs(p);
      }
      const double s = static_cast<double>(sx) * sv[static_cast<std::size_t>(o)];
      y[static_cast<std::size_t>(r * out + o)] = s * acc + bv[static_cast<std::size_t>(o)];
      (*magnitude)[static_cast<std::size_t>(r * out + o)] = std::abs(s) * mag;
    }
  }
  return y;
}

// f32 accumulation and the f32 epilogue err by far less than 1e-5·Σ|terms| at these K (see linear_test.cpp);
// the output's own rounding adds rounding_rtol(dtype)·|y|.
void check_fp8_linear(const Tensor& x, const Tensor& w, const Tensor& scale = Tensor(),
                      const Tensor& bias = Tensor()) {
  SCOPED_TRACE(x.str() + " x " + w.str() + (scale.defined() ? " scale " + scale.str() : "") +
               (bias.defined() ? " + bias " + bias.str() : ""));
  std::vector<double> mag;
  const auto want = reference_fp8_linear(x, w, scale, bias, &mag);
  const Tensor y = ops::fp8_linear(x, w, scale, bias);
  EXPECT_EQ(y.dtype(), x.dtype());
  Shape shape = x.shape();
  shape[shape.rank() - 1] = w.size(0);
  const double rtol = test::rounding_rtol(x.dtype());
  expect_close(y, shape, want,
               [&](std::size_t i) { return 1e-5 * mag[i] + rtol * std::abs(want[i]) + 1e-30; });
}

TEST(Fp8Linear, EveryFormatWithAndWithoutScaleAndBias) {
  unsigned seed = 1;
  for (DType wdt : {DType::f8_e4m3fn, DType::f8_e5m2})
    for (DType xdt : {DType::f32, DType::bf16, DType::f16}) {
      // Activations spanning several binades, so that the row scale matters.
      const Tensor x = random_tensor({2, 3, 37}, xdt, seed++, -20.0f, 20.0f);
      const Tensor w = random_tensor({70, 37}, wdt, seed++);
      const Tensor scale = random_tensor({70}, DType::f32, seed++, 0.01f, 2.0f);
      const Tensor bias = random_tensor({70}, DType::bf16, seed++);
      check_fp8_linear(x, w);
      check_fp8_linear(x, w, scale);
      check_fp8_linear(x, w, Tensor(), bias);
      check_fp8_linear(x, w, scale, bias.to(DType::f32));
    }
}

TEST(Fp8Linear, QuantizesActivationsPerRow) {
  // Row 0 reaches fp8_max exactly after scaling (its amax maps to 448); row 1 is all zeros (scale 1, y =
  // bias); row 2 holds a value too small to survive its row's quantization (1e-6 next to 1000 flushes to 0).
  const std::vector<float> xv = {448.0f * 3, -3.0f, 0.0f, 0.0f, 1000.0f, 1e-6f}, wv = {1.0f, 1.0f},
                           bv = {0.5f};
  const Tensor x = Tensor::from_floats({3, 2}, xv);
  const Tensor w = Tensor::from_floats({1, 2}, wv).to(DType::f8_e4m3fn);
  const Tensor bias = Tensor::from_floats({1}, bv);
  const std::vector<float> y = ops::fp8_linear(x, w, Tensor(), bias).to_floats();
  ASSERT_EQ(y.size(), 3u);
  // Row 0: s = 3, q = (448, -1): y = 3·(448 - 1) + 0.5.
  EXPECT_EQ(y[0], 3.0f * 447.0f + 0.5f);
  EXPECT_EQ(y[1], 0.5f);
  EXPECT_FLOAT_EQ(y[2], 1000.0f + 0.5f);
  check_fp8_linear(x, w, Tensor(), bias);
}

TEST(Fp8Linear, SeveralWeightTilesAndDegenerateShapes) {
  // 16384 input features make weight tiles of 64 channels in the CPU linear kernel: 130 channels take three.
  check_fp8_linear(random_tensor({3, 16384}, DType::bf16, 11),
                   random_tensor({130, 16384}, DType::f8_e4m3fn, 12),
                   random_tensor({130}, DType::f32, 13, 0.5f, 1.5f), random_tensor({130}, DType::f32, 14));
  check_fp8_linear(random_tensor({1}, DType::f32, 1), random_tensor({1, 1}, DType::f8_e5m2, 2));
  const Tensor empty_rows =
      ops::fp8_linear(Tensor::zeros({0, 4}, DType::bf16), random_tensor({3, 4}, DType::f8_e4m3fn, 8));
  EXPECT_EQ(empty_rows.shape(), (Shape{0, 3}));
  // No input features: y = bias.
  check_fp8_linear(Tensor::zeros({2, 0}, DType::f32), Tensor::zeros({3, 0}, DType::f8_e4m3fn), Tensor(),
                   random_tensor({3}, DType::f32, 9));
  // Strided x and weight are compacted.
  check_fp8_linear(random_tensor({13, 4}, DType::f32, 21).transpose(0, 1),
                   random_tensor({9, 20}, DType::f8_e4m3fn, 22).slice(1, 3, 16));
}

TEST(Fp8Linear, RejectsBadArguments) {
  const Tensor x = random_tensor({2, 7}, DType::bf16, 1);
  const Tensor w = random_tensor({5, 7}, DType::f8_e4m3fn, 2);
  expect_error<DTypeError>([&] { ops::fp8_linear(x, w.to(DType::bf16)); },
                           {"fp8_linear", "weight", "bf16[5, 7]"});
  expect_error<ShapeError>(
      [&] {
        ops::fp8_linear(x, random_tensor({5, 6}, DType::f8_e4m3fn, 3));
      },
      {"fp8_linear", "bf16[2, 7]", "f8_e4m3fn[5, 6]", "in_features"});
  expect_error<ShapeError>([&] { ops::fp8_linear(x, w, Tensor::zeros({4}, DType::f32)); },
                           {"fp8_linear", "weight_scale", "[5]"});
  expect_error<DTypeError>([&] { ops::fp8_linear(x, w, Tensor::zeros({5}, DType::bf16)); },
                           {"fp8_linear", "weight_scale"});
  expect_error<ShapeError>(
      [&] {
        ops::fp8_linear(x, w, Tensor(), Tensor::zeros({5, 1}, DType::f32));
      },
      {"fp8_linear", "bias", "[5, 1]"});
  expect_error<DTypeError>([&] { ops::fp8_linear(x.to(DType::f8_e4m3fn), w); }, {"fp8_linear", "x"});
  expect_error<ShapeError>(
      [&] {
        ops::fp8_linear(x, w.reshape({5, 7, 1}));
      },
      {"fp8_linear", "weight", "rank 2"});
  expect_error<ArgumentError>([&] { ops::fp8_linear(x, Tensor()); }, {"fp8_linear", "weight"});
}

// Relative L2 error ||y - ref|| / ||ref|| over the rows of y listed in `rows`, ref [rows.size(), out].
double relative_l2(const Tensor& y, const std::vector<std::int64_t>& rows, const std::vector<double>& ref) {
  const std::vector<float> yv = y.to_floats();
  const std::int64_t out = y.size(-1);
  double err = 0, norm = 0;
  for (std::size_t j = 0; j < rows.size(); ++j)
    for (std::int64_t o = 0; o < out; ++o) {
      const double want = ref[j * static_cast<std::size_t>(out) + static_cast<std::size_t>(o)];
      const double d = yv[static_cast<std::size_t>(rows[j] * out + o)] - want;
      err += d * d;
      norm += want * want;
    }
  return std::sqrt(err / norm);
}

// The error against bf16 that docs/vram.md ("Precision") documents, at a Qwen-Image DiT projection's shape
// (3072 -> 3072) with random normal activations and N(0, 0.02) weights, against the f64 product of the
// unquantized operands (the bf16 activations and the f32 weights).
//
// Bound: rounding to a format with p significant bits (round to nearest) errs by at most half an ulp, 2^-p
// relative to the value's binade, and for values spread over a binade the relative error has an RMS of at
// most 2^-p/√3. Independent errors on the terms of y = Σ x_i·w_i add in quadrature, so y's relative L2 error
// is about the operands' RMS relative errors added in quadrature, plus the output's rounding (bf16, p = 8):
//   bf16 weights:           2^-8/√3 ⊕ 2^-8/√3            ≈ 0.0032  (x is bf16 already: the weight and y
//   round) fp8 e4m3 weights only:  2^-4/√3 ⊕ 2^-8/√3            ≈ 0.036 native fp8 (both):      2^-4/√3 ⊕
//   2^-4/√3 ⊕ 2^-8/√3  ≈ 0.051
// Per-row scaling keeps both operands in e4m3's normal range (amax -> 448), so subnormals do not add to it.
TEST(Fp8Linear, ErrorAgainstTheUnquantizedProductAtQwenImageShapes) {
  const std::int64_t rows = 256, in = 3072, out = 3072;
  const Tensor x = random_normal({rows, in}, DType::bf16, 101);
  const Tensor w = random_normal({out, in}, DType::f32, 102, 0.02f);
  Tensor codes = Tensor::empty({out, in}, DType::f8_e4m3fn);
  Tensor scale = Tensor::empty({out}, DType::f32);
  quantize_fp8_rows(w.data(), DType::f32, static_cast<std::size_t>(out), static_cast<std::size_t>(in),
                    codes.data(), DType::f8_e4m3fn, Fp8Scaling::per_channel, scale.data_as<float>());

  // The f64 reference on every 16th row (enough elements for a stable RMS, 16x cheaper).
  std::vector<std::int64_t> sampled;
  for (std::int64_t r = 0; r < rows; r += 16) sampled.push_back(r);
  const auto xv = values(x), wv = values(w);
  std::vector<double> ref(sampled.size() * static_cast<std::size_t>(out));
  for (std::size_t j = 0; j < sampled.size(); ++j)
    for (std::int64_t o = 0; o < out; ++o) {
      double acc = 0;
      for (std::int64_t i = 0; i < in; ++i)
        acc += xv[static_cast<std::size_t>(sampled[j] * in + i)] * wv[static_cast<std::size_t>(o * in + i)];
      ref[j * static_cast<std::size_t>(out) + static_cast<std::size_t>(o)] = acc;
    }

  const double bf16_error = relative_l2(ops::linear(x, w.to(DType::bf16)), sampled, ref);
  const double weight_only_error = relative_l2(ops::linear(x, codes, Tensor(), scale), sampled, ref);
  const double native_error = relative_l2(ops::fp8_linear(x, codes, scale), sampled, ref);
  RecordProperty("bf16_relative_l2", std::to_string(bf16_error));
  RecordProperty("fp8_weight_only_relative_l2", std::to_string(weight_only_error));
  RecordProperty("fp8_native_relative_l2", std::to_string(native_error));
  std::printf("relative L2 error vs f64: bf16 %.5f, fp8 weights %.5f, native fp8 %.5f\n", bf16_error,
              weight_only_error, native_error);
  const double bf16_rms = std::exp2(-8) / std::sqrt(3.0), fp8_rms = std::exp2(-4) / std::sqrt(3.0);
  EXPECT_LT(bf16_error, std::sqrt(2.0) * bf16_rms);
  EXPECT_LT(weight_only_error, std::hypot(fp8_rms, bf16_rms));
  EXPECT_LT(native_error, std::hypot(std::sqrt(2.0) * fp8_rms, bf16_rms));
  // Quantizing the activations too costs accuracy: the native product is the least accurate of the three.
  EXPECT_GT(native_error, weight_only_error);
  EXPECT_GT(weight_only_error, bf16_error);
}

}  // namespace
}  // namespace vramkit
