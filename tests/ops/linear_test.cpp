#include "ops/linear.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ops/matmul.h"
#include "op_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

using test::expect_close;
using test::expect_error;
using test::random_tensor;
using test::values;

// Double-precision linear on the stored values; `magnitude` gets Σ_i |x·w·scale| per output, which bounds the
// f32 accumulation error.
std::vector<double> reference_linear(const Tensor& x, const Tensor& w, const Tensor& bias,
                                     const Tensor& scale, std::vector<double>* magnitude) {
  const std::int64_t in = w.size(1), out = w.size(0);
  std::int64_t rows = 1;
  for (int d = 0; d + 1 < x.rank(); ++d) rows *= x.size(d);
  const auto xv = values(x), wv = values(w);
  const auto bv = bias.defined() ? values(bias) : std::vector<double>(static_cast<std::size_t>(out), 0.0);
  const auto sv = scale.defined() ? values(scale) : std::vector<double>(static_cast<std::size_t>(out), 1.0);
  std::vector<double> y(static_cast<std::size_t>(rows * out));
  magnitude->assign(y.size(), 0.0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t o = 0; o < out; ++o) {
      double acc = 0, mag = 0;
      for (std::int64_t i = 0; i < in; ++i) {
        const double p = xv[static_cast<std::size_t>(r * in + i)] * wv[static_cast<std::size_t>(o * in + i)];
        acc += p;
        mag += std::abs(p);
      }
      const auto s = sv[static_cast<std::size_t>(o)];
      y[static_cast<std::size_t>(r * out + o)] = acc * s + bv[static_cast<std::size_t>(o)];
      (*magnitude)[static_cast<std::size_t>(r * out + o)] = mag * std::abs(s);
    }
  return y;
}

Shape with_last(Shape s, std::int64_t last) {
  s[s.rank() - 1] = last;
  return s;
}

// f32 accumulation over K terms errs by at most ~K·2⁻²⁴·Σ|x·w|; 1e-5·Σ|x·w| covers K up to ~160 with margin
// and OpenBLAS's blocked summation keeps the error far below the bound for the larger K used here. The
// output's own rounding adds rounding_rtol(dtype)·|y|.
void check_linear(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor(),
                  const Tensor& scale = Tensor()) {
  SCOPED_TRACE(x.str() + " x " + w.str() + (bias.defined() ? " + bias " + bias.str() : "") +
               (scale.defined() ? " scale " + scale.str() : ""));
  std::vector<double> mag;
  const auto want = reference_linear(x, w, bias, scale, &mag);
  const Tensor y = ops::linear(x, w, bias, scale);
  EXPECT_EQ(y.dtype(), x.dtype());
  const double rtol = test::rounding_rtol(x.dtype());
  expect_close(y, with_last(x.shape(), w.size(0)), want,
               [&](std::size_t i) { return 1e-5 * mag[i] + rtol * std::abs(want[i]) + 1e-30; });
}

TEST(Linear, EveryWeightDTypeWithScaleAndBias) {
  unsigned seed = 1;
  for (DType wdt : {DType::f32, DType::bf16, DType::f16, DType::f8_e4m3fn, DType::f8_e5m2})
    for (DType xdt : {DType::f32, DType::bf16, DType::f16}) {
      const Tensor x = random_tensor({2, 3, 37}, xdt, seed++);
      const Tensor w = random_tensor({70, 37}, wdt, seed++);
      const Tensor bias = random_tensor({70}, DType::bf16, seed++);
      const Tensor scale = random_tensor({70}, DType::f32, seed++, 0.01f, 2.0f);
      check_linear(x, w);
      check_linear(x, w, bias);
      check_linear(x, w, Tensor(), scale);
      check_linear(x, w, bias.to(DType::f32), scale);
    }
}

TEST(Linear, OddAndDegenerateShapes) {
  check_linear(random_tensor({1}, DType::f32, 1), random_tensor({1, 1}, DType::bf16, 2));
  check_linear(random_tensor({5, 1}, DType::bf16, 3), random_tensor({3, 1}, DType::f8_e4m3fn, 4));
  check_linear(random_tensor({1, 1, 9}, DType::f32, 5), random_tensor({1, 9}, DType::f32, 6),
               random_tensor({1}, DType::f32, 7));
  const Tensor empty_rows =
      ops::linear(Tensor::zeros({0, 4}, DType::bf16), random_tensor({3, 4}, DType::bf16, 8));
  EXPECT_EQ(empty_rows.shape(), (Shape{0, 3}));
  // No input features: y = bias.
  const Tensor bias = random_tensor({3}, DType::f32, 9);
  check_linear(Tensor::zeros({2, 0}, DType::f32), Tensor::zeros({3, 0}, DType::bf16), bias);
}

TEST(Linear, SeveralWeightTilesWithEpilogue) {
  // 16384 input features make a tile of 64 output channels, so 130 channels take three tiles, the last
  // partial.
  const Tensor x = random_tensor({3, 16384}, DType::bf16, 11);
  const Tensor w = random_tensor({130, 16384}, DType::f8_e4m3fn, 12);
  const Tensor scale = random_tensor({130}, DType::f32, 13, 0.5f, 1.5f);
  const Tensor bias = random_tensor({130}, DType::f32, 14);
  check_linear(x, w, bias, scale);
  check_linear(x.to(DType::f32), w.to(DType::bf16), bias);
}

TEST(Linear, StridedViews) {
  // x transposed, weight a row slice with a wider pitch, weight transposed from [in, out], bias a strided
  // view.
  const Tensor xt = random_tensor({13, 4}, DType::f32, 21).transpose(0, 1);
  const Tensor wide = random_tensor({9, 20}, DType::bf16, 22);
  check_linear(xt, wide.slice(1, 3, 16));
  const Tensor wt = random_tensor({13, 6}, DType::f32, 23).transpose(0, 1);
  check_linear(xt, wt, random_tensor({12}, DType::f32, 24).slice(0, 0, 12, 2));
  check_linear(xt.to(DType::bf16), random_tensor({13, 6}, DType::f8_e5m2, 25).transpose(0, 1));
}

TEST(Linear, RejectsBadArguments) {
  const Tensor x = random_tensor({2, 7}, DType::bf16, 1);
  const Tensor w = random_tensor({5, 6}, DType::f32, 2);
  expect_error<ShapeError>([&] { ops::linear(x, w); }, {"linear", "bf16[2, 7]", "f32[5, 6]", "in_features"});
  const Tensor w7 = random_tensor({5, 7}, DType::f32, 3);
  expect_error<ShapeError>([&] { ops::linear(x, w7, Tensor::zeros({4}, DType::f32)); },
                           {"linear", "bias", "[5]"});
  expect_error<ShapeError>(
      [&] {
        ops::linear(x, w7, Tensor(), Tensor::zeros({5, 1}, DType::f32));
      },
      {"linear", "scale", "[5, 1]"});
  expect_error<DTypeError>([&] { ops::linear(x, w7, Tensor(), Tensor::zeros({5}, DType::bf16)); },
                           {"linear", "scale"});
  expect_error<DTypeError>([&] { ops::linear(x, w7.to(DType::i8)); }, {"linear", "weight", "i8[5, 7]"});
  expect_error<DTypeError>([&] { ops::linear(x.to(DType::i32), w7); }, {"linear", "x"});
  expect_error<ShapeError>([&] { ops::linear(x, w7.reshape({5, 7, 1})); }, {"linear", "weight", "rank 2"});
  expect_error<ArgumentError>([&] { ops::linear(Tensor(), w7); }, {"linear", "x"});
}

// Double-precision batched matmul over explicit index arithmetic of contiguous row-major inputs.
std::vector<double> reference_matmul(const std::vector<double>& a, const std::vector<double>& b,
                                     std::int64_t batch_a, std::int64_t batch_b, std::int64_t m,
                                     std::int64_t k, std::int64_t n) {
  const std::int64_t batch = std::max(batch_a, batch_b);
  std::vector<double> c(static_cast<std::size_t>(batch * m * n));
  for (std::int64_t t = 0; t < batch; ++t)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (std::int64_t p = 0; p < k; ++p)
          acc += a[static_cast<std::size_t>((t % batch_a) * m * k + i * k + p)] *
                 b[static_cast<std::size_t>((t % batch_b) * k * n + p * n + j)];
        c[static_cast<std::size_t>(t * m * n + i * n + j)] = acc;
      }
  return c;
}

// Inputs in [-1, 1) with K <= 64: |error| <= K·2⁻²⁴·K plus the output's rounding.
constexpr double kMatmulAtol = 1e-5;

TEST(Matmul, PlainBatchedAndBroadcast) {
  for (DType dt : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    const double rtol = test::rounding_rtol(dt);
    const Tensor a = random_tensor({5, 7}, dt, 1), b = random_tensor({7, 3}, dt, 2);
    expect_close(ops::matmul(a, b), {5, 3}, reference_matmul(values(a), values(b), 1, 1, 5, 7, 3),
                 kMatmulAtol, rtol);
    const Tensor a4 = random_tensor({2, 3, 5, 7}, dt, 3), b4 = random_tensor({2, 3, 7, 4}, dt, 4);
    expect_close(ops::matmul(a4, b4), {2, 3, 5, 4}, reference_matmul(values(a4), values(b4), 6, 6, 5, 7, 4),
                 kMatmulAtol, rtol);
    const Tensor shared = random_tensor({7, 4}, dt, 5);
    expect_close(ops::matmul(a4, shared), {2, 3, 5, 4},
                 reference_matmul(values(a4), values(shared), 6, 1, 5, 7, 4), kMatmulAtol, rtol);
    const Tensor one = random_tensor({1, 5, 7}, dt, 6), many = random_tensor({3, 7, 2}, dt, 7);
    expect_close(ops::matmul(one, many), {3, 5, 2},
                 reference_matmul(values(one), values(many), 1, 3, 5, 7, 2), kMatmulAtol, rtol);
  }
}

TEST(Matmul, TransposedAndSlicedViews) {
  // q · kᵀ with k [B, N, D] viewed as [B, D, N]; a a column slice with a wide pitch.
  const Tensor q = random_tensor({2, 6, 8}, DType::f32, 1), k = random_tensor({2, 9, 8}, DType::f32, 2);
  const Tensor kt = k.transpose(1, 2);
  expect_close(ops::matmul(q, kt), {2, 6, 9}, reference_matmul(values(q), values(kt), 2, 2, 6, 8, 9),
               kMatmulAtol, 1e-6);
  const Tensor wide = random_tensor({5, 30}, DType::f32, 3).slice(1, 4, 12);
  const Tensor b = random_tensor({8, 3}, DType::f32, 4);
  expect_close(ops::matmul(wide, b), {5, 3}, reference_matmul(values(wide), values(b), 1, 1, 5, 8, 3),
               kMatmulAtol, 1e-6);
  const Tensor every_other = random_tensor({5, 16}, DType::f32, 5).slice(1, 0, 16, 2);
  expect_close(ops::matmul(every_other, b), {5, 3},
               reference_matmul(values(every_other), values(b), 1, 1, 5, 8, 3), kMatmulAtol, 1e-6);
  const Tensor empty = ops::matmul(Tensor::zeros({4, 0}, DType::f32), Tensor::zeros({0, 3}, DType::f32));
  expect_close(empty, {4, 3}, std::vector<double>(12, 0.0), 0.0, 0.0);
}

TEST(Matmul, RejectsBadArguments) {
  const Tensor a = random_tensor({2, 5, 7}, DType::f32, 1);
  expect_error<ShapeError>(
      [&] {
        ops::matmul(a, random_tensor({6, 3}, DType::f32, 2));
      },
      {"matmul", "f32[2, 5, 7]", "f32[6, 3]", "inner"});
  expect_error<ShapeError>(
      [&] {
        ops::matmul(a, random_tensor({3, 7, 3}, DType::f32, 3));
      },
      {"matmul", "broadcast"});
  expect_error<ShapeError>([&] { ops::matmul(a, random_tensor({7}, DType::f32, 4)); }, {"matmul", "rank"});
  expect_error<DTypeError>(
      [&] {
        ops::matmul(a, random_tensor({7, 3}, DType::f8_e4m3fn, 5));
      },
      {"matmul", "b"});
}

}  // namespace
}  // namespace vramkit
