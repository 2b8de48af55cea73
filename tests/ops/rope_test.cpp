#include "ops/rope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "op_test_util.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

using test::all_close;
using test::random_normal;
using test::throws_with;
using test::values;

// Table entries come from the f32 angle pos·ω; against exact double angles their error is that rounding,
// |pos·ω|·2^-24 (≤ 2.5e-4 at position 4095), plus the f32 rounding of ω itself and of cos/sin.
double angle_tolerance(double pos) {
  return 4e-7 * (1.0 + std::fabs(pos));
}

double omega(std::int64_t j, std::int64_t dim, double theta) {
  return 1.0 / std::pow(theta, 2.0 * static_cast<double>(j) / static_cast<double>(dim));
}

// Positions of spec §2.5 for token `t` of the image grid and pair `j` (axes 16/56/56 -> pairs 8/28/28).
struct AxisPos {
  double pos;
  double omega;
};
AxisPos qwen_image_pair(std::int64_t f, std::int64_t r, std::int64_t c, std::int64_t h, std::int64_t w,
                        std::int64_t j) {
  if (j < 8) return {static_cast<double>(f), omega(j, 16, 1e4)};
  if (j < 36) return {static_cast<double>(r - (h + 1) / 2), omega(j - 8, 56, 1e4)};
  return {static_cast<double>(c - (w + 1) / 2), omega(j - 36, 56, 1e4)};
}

void expect_table_near(const RopeTable& t, std::int64_t row, std::int64_t j, double angle, double tol) {
  const std::vector<std::int64_t> idx{row, j};
  EXPECT_NEAR(t.cos.item_as_double(idx), std::cos(angle), tol) << "row " << row << " pair " << j;
  EXPECT_NEAR(t.sin.item_as_double(idx), std::sin(angle), tol) << "row " << row << " pair " << j;
}

TEST(Rope, QwenImageTableMatchesSpecPositions) {
  for (auto [h, w, l] : {std::array<std::int64_t, 3>{3, 5, 4}, {64, 64, 7}, {58, 104, 3}, {1, 1, 1}}) {
    const QwenImageRope rope = qwen_image_rope(1, h, w, l);
    ASSERT_EQ(rope.image.cos.shape(), (Shape{h * w, 64}));
    ASSERT_EQ(rope.text.sin.shape(), (Shape{l, 64}));
    EXPECT_EQ(rope.image.style, RopeStyle::interleaved);
    for (std::int64_t r = 0; r < h; ++r)
      for (std::int64_t c = 0; c < w; c += std::max<std::int64_t>(1, w / 7))
        for (std::int64_t j = 0; j < 64; ++j) {
          const AxisPos p = qwen_image_pair(0, r, c, h, w, j);
          expect_table_near(rope.image, r * w + c, j, p.pos * p.omega, angle_tolerance(p.pos));
        }
    const std::int64_t start = std::max(h / 2, w / 2);  // text follows the image's largest positive position
    for (std::int64_t i = 0; i < l; ++i)
      for (std::int64_t j = 0; j < 64; ++j) {
        const double om = j < 8 ? omega(j, 16, 1e4) : j < 36 ? omega(j - 8, 56, 1e4) : omega(j - 36, 56, 1e4);
        expect_table_near(rope.text, i, j, static_cast<double>(start + i) * om, angle_tolerance(start + i));
      }
  }
}

TEST(Rope, QwenImageSpecExamples) {
  // 1024x1024: h = w = 64, rows/cols -32..31, text at 32. Pair 8 (height, ω = 1) of token (0, 0) turns by
  // -32.
  const QwenImageRope rope = qwen_image_rope(1, 64, 64, 2);
  expect_table_near(rope.image, 0, 8, -32.0, 1e-6);
  expect_table_near(rope.image, 0, 36, -32.0, 1e-6);
  expect_table_near(rope.image, 63 * 64 + 63, 36, 31.0, 1e-6);
  expect_table_near(rope.image, 5, 0, 0.0, 0.0);  // frame 0: identity
  expect_table_near(rope.text, 0, 0, 32.0, 1e-6);
  expect_table_near(rope.text, 1, 36, 33.0, 1e-6);
  // Frames count from 0; without scale_rope rows/cols start at 0 and text at max(h, w).
  const QwenImageRope plain = qwen_image_rope(2, 3, 4, 1, {{16, 56, 56}, 1e4, false});
  expect_table_near(plain.image, 12 + 1 * 4 + 2, 0, 1.0, 1e-6);   // frame 1, ω_0 = 1
  expect_table_near(plain.image, 12 + 1 * 4 + 2, 8, 1.0, 1e-6);   // row 1
  expect_table_near(plain.image, 12 + 1 * 4 + 2, 36, 2.0, 1e-6);  // col 2
  expect_table_near(plain.text, 0, 36, 4.0, 1e-6);
}

TEST(Rope, QwenImageRejectsOutOfRange) {
  EXPECT_TRUE(
      throws_with<ArgumentError>([] { qwen_image_rope(1, 64, 64, 4070); }, {"qwen_image_rope", "4095"}));
  EXPECT_TRUE(
      throws_with<ArgumentError>([] { qwen_image_rope(1, 8194, 2, 1); }, {"qwen_image_rope", "8194"}));
  EXPECT_TRUE(throws_with<ArgumentError>(
      [] {
        qwen_image_rope(1, 2, 2, 1, {{16, 55, 56}, 1e4, true});
      },
      {"qwen_image_rope", "even"}));
}

// Double-precision rotation of x [B, L, H, D] with the table's own cos/sin values.
std::vector<double> rotate(const Tensor& x, const RopeTable& t) {
  const std::int64_t B = x.size(0), L = x.size(1), H = x.size(2), D = x.size(3), P = D / 2;
  const std::vector<double> xv = values(x), c = values(t.cos), s = values(t.sin);
  const bool per_batch = t.cos.rank() == 3;
  std::vector<double> out(xv.size());
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t l = 0; l < L; ++l)
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t j = 0; j < P; ++j) {
          const std::int64_t base = ((b * L + l) * H + h) * D, trow = ((per_batch ? b * L : 0) + l) * P + j;
          const bool inter = t.style == RopeStyle::interleaved;
          const std::int64_t i0 = base + (inter ? 2 * j : j), i1 = base + (inter ? 2 * j + 1 : j + P);
          out[i0] = xv[i0] * c[trow] - xv[i1] * s[trow];
          out[i1] = xv[i0] * s[trow] + xv[i1] * c[trow];
        }
  return out;
}

// f32: two rounded products and a rounded difference, |x| ≲ 5.
constexpr double kRopeF32Abs = 2e-6;
constexpr double kRopeBf16Rel = 1.0 / 256;  // one rounding of the f32 result to bf16
constexpr double kRopeF16Rel = 1.0 / 2048;

TEST(Rope, ApplyInterleavedQwenImage) {
  const QwenImageRope rope = qwen_image_rope(1, 3, 5, 4);
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    const Tensor xi = random_normal({2, 15, 3, 128}, dt, 7);
    const Tensor xt = random_normal({2, 4, 3, 128}, dt, 8);
    const double rel = dt == DType::bf16 ? kRopeBf16Rel : dt == DType::f16 ? kRopeF16Rel : 0.0;
    const Tensor yi = apply_rope(xi, rope.image);
    ASSERT_EQ(yi.dtype(), dt);
    EXPECT_TRUE(all_close(yi, rotate(xi, rope.image), kRopeF32Abs, rel));
    EXPECT_TRUE(all_close(apply_rope(xt, rope.text), rotate(xt, rope.text), kRopeF32Abs, rel));
  }
  // The frame pairs (dims 0..15) of the image tokens are untouched (frame position 0).
  const Tensor x = random_normal({1, 15, 2, 128}, DType::f32, 9);
  const std::vector<double> a = values(x), b = values(apply_rope(x, rope.image));
  for (std::size_t i = 0; i < a.size(); ++i)
    if (i % 128 < 16) ASSERT_EQ(a[i], b[i]) << i;
}

TEST(Rope, Rotate1dTableAndApply) {
  // Qwen2.5-VL text-only positions with left padding: cumsum(mask) - 1, padded slots 1.
  const std::vector<float> ids{1, 1, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6};
  const Tensor pos = Tensor::from_floats({2, 7}, ids).to(DType::i64);
  const double theta = 1e6;
  const RopeTable t = rope_1d(pos, 16, theta);
  ASSERT_EQ(t.cos.shape(), (Shape{2, 7, 8}));
  EXPECT_EQ(t.style, RopeStyle::rotate_half);
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t l = 0; l < 7; ++l)
      for (std::int64_t j = 0; j < 8; ++j) {
        const double a = ids[static_cast<std::size_t>(b * 7 + l)] * omega(j, 16, theta);
        const std::vector<std::int64_t> idx{b, l, j};
        EXPECT_NEAR(t.cos.item_as_double(idx), std::cos(a), 1e-6);
        EXPECT_NEAR(t.sin.item_as_double(idx), std::sin(a), 1e-6);
      }
  const Tensor x = random_normal({2, 7, 3, 16}, DType::f32, 11);
  EXPECT_TRUE(all_close(apply_rope(x, t), rotate(x, t), kRopeF32Abs, 0.0));
  // A shared [L] table (i32 ids) applied to a strided view (a transposed [B, H, L, D] tensor).
  const RopeTable shared =
      rope_1d(Tensor::from_floats({5}, std::vector<float>{0, 1, 2, 3, 100}).to(DType::i32), 8, 10000.0);
  const Tensor xv = random_normal({2, 3, 5, 8}, DType::f32, 12).transpose(1, 2);
  ASSERT_FALSE(xv.is_contiguous());
  EXPECT_TRUE(all_close(apply_rope(xv, shared), rotate(xv, shared), kRopeF32Abs, 0.0));
  // Position 0 is the identity.
  const Tensor one = random_normal({1, 1, 1, 8}, DType::f32, 13);
  const RopeTable zero = rope_1d(Tensor::zeros({1}, DType::i64), 8, 10000.0);
  EXPECT_TRUE(all_close(apply_rope(one, zero), values(one), 0.0, 0.0));
}

TEST(Rope, RelativePositionProperty) {
  // <rope(q, m), rope(k, n)> depends only on m - n (rotate-half, positions 3/1 vs 12/10).
  const Tensor q = random_normal({1, 1, 1, 32}, DType::f32, 20),
               k = random_normal({1, 1, 1, 32}, DType::f32, 21);
  auto at = [&](const Tensor& x, float p) {
    return values(
        apply_rope(x, rope_1d(Tensor::from_floats({1}, std::vector<float>{p}).to(DType::i32), 32, 1e4)));
  };
  auto dot = [](const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
  };
  EXPECT_NEAR(dot(at(q, 3), at(k, 1)), dot(at(q, 12), at(k, 10)), 1e-4);
}

TEST(Rope, RejectsBadArguments) {
  const RopeTable t = rope_1d(Tensor::zeros({2, 7}, DType::i64), 16, 1e4);
  const Tensor x = random_normal({2, 7, 3, 16}, DType::f32, 1);
  EXPECT_TRUE(throws_with<ShapeError>([&] { apply_rope(x.slice(1, 0, 6), t); },
                                      {"apply_rope", "[2, 6, 3, 16]", "length"}));
  EXPECT_TRUE(throws_with<ShapeError>([&] { apply_rope(x.slice(3, 0, 8), t); }, {"apply_rope", "head_dim"}));
  EXPECT_TRUE(throws_with<ShapeError>([&] { apply_rope(x.slice(0, 0, 1), t); }, {"apply_rope", "batch"}));
  EXPECT_TRUE(throws_with<ShapeError>([&] { apply_rope(x.select(0, 0), t); }, {"apply_rope", "rank 4"}));
  EXPECT_TRUE(throws_with<DTypeError>([&] { apply_rope(x.to(DType::i32), t); }, {"apply_rope", "i32"}));
  EXPECT_TRUE(
      throws_with<ArgumentError>([] { rope_1d(Tensor::zeros({3}, DType::i64), 7, 1e4); }, {"rope_1d", "7"}));
  EXPECT_TRUE(
      throws_with<DTypeError>([] { rope_1d(Tensor::zeros({3}, DType::f32), 8, 1e4); }, {"rope_1d", "f32"}));
}

}  // namespace
}  // namespace vramkit::ops
