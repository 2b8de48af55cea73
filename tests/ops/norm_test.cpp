#include "ops/norm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "op_test_util.h"
#include "ops/elementwise.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

using test::expect_close;
using test::expect_error;
using test::random_tensor;
using test::values;

// Double-precision last-dimension norm over row-major values. rms: RMSNorm, else LayerNorm.
std::vector<double> reference_row_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps,
                                       bool rms) {
  const std::int64_t d = x.size(-1), rows = d == 0 ? 0 : x.numel() / d;
  const auto xv = values(x);
  const auto wv = w.defined() ? values(w) : std::vector<double>(static_cast<std::size_t>(d), 1.0);
  const auto bv = b.defined() ? values(b) : std::vector<double>(static_cast<std::size_t>(d), 0.0);
  std::vector<double> y(xv.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    const double* row = &xv[static_cast<std::size_t>(r * d)];
    double mean = 0, sq = 0;
    for (std::int64_t i = 0; i < d; ++i) mean += row[i] / static_cast<double>(d);
    if (rms) mean = 0;
    for (std::int64_t i = 0; i < d; ++i) sq += (row[i] - mean) * (row[i] - mean) / static_cast<double>(d);
    for (std::int64_t i = 0; i < d; ++i) {
      const auto k = static_cast<std::size_t>(i);
      y[static_cast<std::size_t>(r * d + i)] = (row[i] - mean) / std::sqrt(sq + eps) * wv[k] + bv[k];
    }
  }
  return y;
}

// Normalized values are O(1)-O(3); the f32 epilogue (subtract, two products, a sum) errs by a few 1e-7 of
// them.
constexpr double kNormAtol = 2e-6;

TEST(LayerNorm, AffineAndPlainAcrossDTypes) {
  unsigned seed = 1;
  for (DType dt : {DType::f32, DType::bf16, DType::f16})
    for (std::int64_t d : {1, 7, 96, 301}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " D=" + std::to_string(d));
      const Tensor x = random_tensor({2, 3, d}, dt, seed++, -3.0f, 5.0f);
      const Tensor w = random_tensor({d}, DType::bf16, seed++), b = random_tensor({d}, DType::f32, seed++);
      const double rtol = test::rounding_rtol(dt);
      expect_close(ops::layer_norm(x, w, b, 1e-5), x.shape(), reference_row_norm(x, w, b, 1e-5, false),
                   kNormAtol, rtol);
      expect_close(ops::layer_norm(x, Tensor(), Tensor(), 1e-6), x.shape(),
                   reference_row_norm(x, Tensor(), Tensor(), 1e-6, false), kNormAtol, rtol);
    }
}

TEST(LayerNorm, LargeOffsetAndStridedView) {
  // A mean of 1000 with deviations of 1: a one-pass E[x²] - E[x]² in f32 would lose most digits.
  const Tensor x = random_tensor({64, 1024}, DType::f32, 7, 999.0f, 1001.0f);
  expect_close(ops::layer_norm(x, Tensor(), Tensor(), 1e-6), x.shape(),
               reference_row_norm(x, Tensor(), Tensor(), 1e-6, false), 2e-4, 1e-5);
  const Tensor xt = random_tensor({9, 4, 5}, DType::bf16, 8).transpose(0, 2);
  expect_close(ops::layer_norm(xt, Tensor(), Tensor(), 1e-6), xt.shape(),
               reference_row_norm(xt, Tensor(), Tensor(), 1e-6, false), kNormAtol, 1.0 / 256);
}

TEST(RmsNorm, RowsAndPerHeadWithAndWithoutWeight) {
  unsigned seed = 10;
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    const double rtol = test::rounding_rtol(dt);
    const Tensor x = random_tensor({3, 5, 37}, dt, seed++, -2.0f, 3.0f);
    const Tensor w = random_tensor({37}, DType::f32, seed++);
    expect_close(ops::rms_norm(x, w, 1e-6), x.shape(), reference_row_norm(x, w, Tensor(), 1e-6, true),
                 kNormAtol, rtol);
    expect_close(ops::rms_norm(x, Tensor(), 1e-6), x.shape(),
                 reference_row_norm(x, Tensor(), Tensor(), 1e-6, true), kNormAtol, rtol);
    // Per-head q norm: [B, L, H, head_dim] from a [B, L, H·head_dim] projection, heads viewed by reshape.
    const Tensor q = random_tensor({2, 5, 4 * 16}, dt, seed++).reshape({2, 5, 4, 16});
    const Tensor wq = random_tensor({16}, DType::bf16, seed++);
    expect_close(ops::rms_norm(q, wq, 1e-6), q.shape(), reference_row_norm(q, wq, Tensor(), 1e-6, true),
                 kNormAtol, rtol);
  }
  // eps dominates an all-zero row and a tiny one.
  const Tensor tiny = Tensor::from_floats({2, 3}, std::vector<float>{0, 0, 0, 1e-4f, -1e-4f, 2e-4f});
  expect_close(ops::rms_norm(tiny, Tensor(), 1e-6), tiny.shape(),
               reference_row_norm(tiny, Tensor(), Tensor(), 1e-6, true), 1e-7, 1e-6);
}

// Double-precision channel norm of contiguous [B, C, S] values.
std::vector<double> reference_channel_norm(const Tensor& x, const Tensor& gamma, const Tensor& bias,
                                           double eps) {
  const std::int64_t b = x.size(0), c = x.size(1), s = x.numel() / (b * c);
  const auto xv = values(x), gv = values(gamma);
  const auto bv = bias.defined() ? values(bias) : std::vector<double>(static_cast<std::size_t>(c), 0.0);
  std::vector<double> y(xv.size());
  for (std::int64_t n = 0; n < b; ++n)
    for (std::int64_t p = 0; p < s; ++p) {
      double sq = 0;
      for (std::int64_t k = 0; k < c; ++k)
        sq += std::pow(xv[static_cast<std::size_t>((n * c + k) * s + p)], 2);
      const double denom = std::max(std::sqrt(sq), eps);
      for (std::int64_t k = 0; k < c; ++k) {
        const auto i = static_cast<std::size_t>((n * c + k) * s + p);
        y[i] = xv[i] / denom * std::sqrt(static_cast<double>(c)) * gv[static_cast<std::size_t>(k)] +
               bv[static_cast<std::size_t>(k)];
      }
    }
  return y;
}

TEST(ChannelRmsNorm, VaeShapesGammaLayoutsAndBias) {
  for (DType dt : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    const double rtol = test::rounding_rtol(dt);
    // Residual-block layout: x [B, C, T, H, W], gamma [C, 1, 1, 1]; spatial 300 spans two position blocks.
    const Tensor x5 = random_tensor({2, 12, 1, 15, 20}, dt, 1);
    const Tensor g4 = random_tensor({12, 1, 1, 1}, DType::bf16, 2, 0.5f, 1.5f);
    expect_close(ops::channel_rms_norm(x5, g4), x5.shape(), reference_channel_norm(x5, g4, Tensor(), 1e-12),
                 4e-6, rtol);
    // Attention layout: x [B, C, H, W] (a permuted view), gamma [C, 1, 1], with a bias.
    const Tensor x4 = random_tensor({2, 7, 6, 5}, dt, 3).permute({0, 3, 1, 2});
    const Tensor g3 = random_tensor({5, 1, 1}, DType::f32, 4), bias = random_tensor({5}, DType::f32, 5);
    expect_close(ops::channel_rms_norm(x4, g3, bias), x4.shape(), reference_channel_norm(x4, g3, bias, 1e-12),
                 4e-6, rtol);
  }
  // An all-zero pixel divides by eps instead of by 0: the output is 0 + bias.
  const Tensor zeros = Tensor::zeros({1, 3, 2}, DType::f32);
  const Tensor g = random_tensor({3}, DType::f32, 6), b = random_tensor({3}, DType::f32, 7);
  expect_close(ops::channel_rms_norm(zeros, g, b), zeros.shape(), reference_channel_norm(zeros, g, b, 1e-12),
               0, 0);
}

// The DiT's norm and modulation: against the double-precision norm, rounded to x's dtype, times (1 + scale)
// plus shift in double, and bit for bit the two ops it stands for, with the modulation rows of a [B, 6·D]
// table (strided views) and one row for the whole batch.
TEST(LayerNormModulate, IsTheNormThenTheModulation) {
  unsigned seed = 40;
  for (DType dt : {DType::f32, DType::bf16})
    for (const bool per_batch : {true, false}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + (per_batch ? ", a row per batch element" : ", one row"));
      const std::int64_t b = 2, l = 5, d = 24;
      const Tensor x = random_tensor({b, l, d}, dt, seed++, -3.0f, 5.0f);
      const Tensor table = random_tensor({per_batch ? b : 1, 6 * d}, dt, seed++);
      const Tensor shift = table.slice(1, 0, d).unsqueeze(1),
                   scale = table.slice(1, 3 * d, 4 * d).unsqueeze(1);
      const Tensor y = ops::layer_norm_modulate(x, shift, scale, 1e-6);
      const Tensor two_ops = ops::modulate(ops::layer_norm(x, Tensor(), Tensor(), 1e-6), shift, scale);
      ASSERT_EQ(y.nbytes(), two_ops.nbytes());
      EXPECT_EQ(std::memcmp(y.data(), two_ops.data(), y.nbytes()), 0) << "not the two ops' bits";
      const std::vector<double> normed =
          values(Tensor::from_floats(x.shape(),
                                     [&] {
                                       std::vector<float> f;
                                       for (double v : reference_row_norm(x, Tensor(), Tensor(), 1e-6, false))
                                         f.push_back(static_cast<float>(v));
                                       return f;
                                     }())
                     .to(dt));
      const std::vector<double> sv = values(shift.contiguous()), cv = values(scale.contiguous());
      std::vector<double> want(normed.size());
      for (std::size_t i = 0; i < want.size(); ++i) {
        const std::size_t row = per_batch ? i / static_cast<std::size_t>(l * d) : 0,
                          c = i % static_cast<std::size_t>(d);
        const std::size_t m = row * static_cast<std::size_t>(d) + c;
        want[i] = normed[i] * (1.0 + cv[m]) + sv[m];
      }
      expect_close(y, x.shape(), want, 1e-5, 2 * test::rounding_rtol(dt));
    }
  const Tensor x = random_tensor({2, 3, 8}, DType::bf16, 1);
  expect_error<ShapeError>(
      [&] {
        ops::layer_norm_modulate(x, random_tensor({2, 1, 7}, DType::bf16, 2),
                                 random_tensor({2, 1, 8}, DType::bf16, 3), 1e-6);
      },
      {"modulate", "shift bf16[2, 1, 7]"});
  expect_error<ArgumentError>([&] { ops::layer_norm_modulate(x, Tensor(), x, 1e-6); },
                              {"layer_norm_modulate", "shift"});
  expect_error<ArgumentError>([&] { ops::layer_norm_modulate(x, x, x, -1); }, {"layer_norm_modulate", "eps"});
}

TEST(Norms, RejectBadArguments) {
  const Tensor x = random_tensor({2, 8}, DType::bf16, 1);
  expect_error<ShapeError>([&] { ops::layer_norm(x, random_tensor({7}, DType::f32, 2), Tensor(), 1e-6); },
                           {"layer_norm", "x bf16[2, 8]", "weight f32[7]", "8"});
  expect_error<ShapeError>(
      [&] {
        ops::rms_norm(x, random_tensor({8, 1}, DType::f32, 3), 1e-6);
      },
      {"rms_norm", "weight f32[8, 1]"});
  expect_error<DTypeError>([&] { ops::rms_norm(x.to(DType::i8), Tensor(), 1e-6); }, {"rms_norm", "x"});
  expect_error<ArgumentError>([&] { ops::rms_norm(x, Tensor(), -1); }, {"rms_norm", "eps"});
  expect_error<ShapeError>(
      [&] {
        ops::channel_rms_norm(x, random_tensor({4, 1, 1}, DType::f32, 4));
      },
      {"channel_rms_norm", "gamma f32[4, 1, 1]", "8 values"});
  expect_error<ShapeError>([&] { ops::channel_rms_norm(x.reshape({16}), random_tensor({8}, DType::f32, 5)); },
                           {"channel_rms_norm", "rank >= 2"});
  expect_error<ArgumentError>([&] { ops::channel_rms_norm(x, Tensor()); }, {"channel_rms_norm", "gamma"});
}

}  // namespace
}  // namespace vramkit
