#include "ops/conv.h"

#include <gtest/gtest.h>

#include <vector>

#include "ops/upsample.h"
#include "op_test_util.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

using test::all_close;
using test::random_normal;
using test::throws_with;
using test::values;

// Direct double-precision 3-D cross-correlation of an explicitly padded input xp [B, Cin, Tp, Hp, Wp] (given
// as values with its shape) with weight [Cout, Cin, kt, kh, kw], plus bias. conv2d tests use Tp = kt = 1.
std::vector<double> direct_conv(const std::vector<double>& xp, const Shape& xs, const Tensor& weight,
                                const Tensor& bias, std::int64_t st, std::int64_t sh, std::int64_t sw,
                                Shape* out_shape) {
  const std::vector<double> w = values(weight);
  const std::vector<double> bv = bias.defined() ? values(bias) : std::vector<double>(weight.size(0), 0.0);
  const std::int64_t B = xs[0], C = xs[1], T = xs[2], H = xs[3], W = xs[4];
  const std::int64_t O = weight.size(0), KT = weight.size(2), KH = weight.size(3), KW = weight.size(4);
  const std::int64_t To = (T - KT) / st + 1, Ho = (H - KH) / sh + 1, Wo = (W - KW) / sw + 1;
  *out_shape = Shape{B, O, To, Ho, Wo};
  std::vector<double> out;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t o = 0; o < O; ++o)
      for (std::int64_t t = 0; t < To; ++t)
        for (std::int64_t i = 0; i < Ho; ++i)
          for (std::int64_t j = 0; j < Wo; ++j) {
            double acc = bv[o];
            for (std::int64_t c = 0; c < C; ++c)
              for (std::int64_t a = 0; a < KT; ++a)
                for (std::int64_t u = 0; u < KH; ++u)
                  for (std::int64_t v = 0; v < KW; ++v)
                    acc += w[(((o * C + c) * KT + a) * KH + u) * KW + v] *
                           xp[(((b * C + c) * T + t * st + a) * H + i * sh + u) * W + j * sw + v];
            out.push_back(acc);
          }
  return out;
}

// Zero-pads x [B, C, T, H, W] values: `front` frames before (after `prefix` frames [B, C, Tc, H, W], if any),
// (top, bottom, left, right) spatially.
std::vector<double> pad(const Tensor& x, const Tensor& prefix, std::int64_t front, std::int64_t top,
                        std::int64_t bottom, std::int64_t left, std::int64_t right, Shape* shape) {
  const std::int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
  const std::int64_t Tc = prefix.defined() ? prefix.size(2) : 0;
  const std::int64_t Tp = front + Tc + T, Hp = H + top + bottom, Wp = W + left + right;
  const std::vector<double> xv = values(x), cv = prefix.defined() ? values(prefix) : std::vector<double>();
  std::vector<double> out(static_cast<std::size_t>(B * C * Tp * Hp * Wp), 0.0);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t t = 0; t < Tc + T; ++t)
        for (std::int64_t i = 0; i < H; ++i)
          for (std::int64_t j = 0; j < W; ++j)
            out[(((b * C + c) * Tp + front + t) * Hp + i + top) * Wp + j + left] =
                t < Tc ? cv[(((b * C + c) * Tc + t) * H + i) * W + j]
                       : xv[(((b * C + c) * T + t - Tc) * H + i) * W + j];
  *shape = Shape{B, C, Tp, Hp, Wp};
  return out;
}

// f32: sums of up to ~150 products of N(0,1) values (|out| ≲ 40) in f32.
constexpr double kConvF32Abs = 1e-4;
constexpr double kConvBf16Rel = 1.0 / 256;  // the result's own rounding to bf16

void check_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p, double rel) {
  const Tensor out = conv2d(x, w, bias, p);
  Shape ps, os;
  const std::vector<double> xp =
      pad(x.unsqueeze(2), Tensor(), 0, p.padding[0], p.padding[1], p.padding[2], p.padding[3], &ps);
  const std::vector<double> ref = direct_conv(xp, ps, w.unsqueeze(2), bias, 1, p.stride[0], p.stride[1], &os);
  ASSERT_EQ(out.shape(), (Shape{os[0], os[1], os[3], os[4]}));
  ASSERT_EQ(out.dtype(), x.dtype());
  EXPECT_TRUE(all_close(out, ref, kConvF32Abs, rel)) << x.str() << " " << w.str();
}

TEST(Conv2d, PaddingStrideBias) {
  const Tensor x = random_normal({2, 3, 7, 9}, DType::f32, 1);
  const Tensor w = random_normal({5, 3, 3, 3}, DType::f32, 2);
  const Tensor b = random_normal({5}, DType::f32, 3);
  check_conv2d(x, w, b, Conv2dParams::symmetric(1, 1), 0.0);
  check_conv2d(x, w, Tensor(), Conv2dParams::symmetric(2, 1), 0.0);
  check_conv2d(x, w, b, {{2, 2}, {0, 1, 0, 1}}, 0.0);  // the VAE encoder's ZeroPad2d(0,1,0,1) + stride 2
  check_conv2d(x, w, b, {{1, 3}, {2, 0, 1, 3}}, 0.0);  // asymmetric everything
  check_conv2d(x, random_normal({4, 3, 1, 1}, DType::f32, 4), b.slice(0, 0, 4), {}, 0.0);  // 1x1 direct path
  check_conv2d(x, random_normal({4, 3, 2, 5}, DType::f32, 5), Tensor(), {}, 0.0);
}

TEST(Conv2d, WeightDTypesAndViews) {
  const Tensor x = random_normal({1, 4, 6, 5}, DType::f32, 6);
  for (DType wdt : {DType::bf16, DType::f16, DType::f8_e4m3fn})
    check_conv2d(x, random_normal({3, 4, 3, 3}, wdt, 7), random_normal({3}, wdt, 8),
                 Conv2dParams::symmetric(1, 1), 0.0);
  check_conv2d(x.to(DType::bf16), random_normal({3, 4, 3, 3}, DType::bf16, 9), Tensor(),
               Conv2dParams::symmetric(1, 1), kConvBf16Rel);
  const Tensor view = random_normal({1, 6, 5, 8}, DType::f32, 10).permute({0, 3, 1, 2});  // NHWC storage
  ASSERT_FALSE(view.is_contiguous());
  check_conv2d(view, random_normal({2, 8, 3, 3}, DType::f32, 11), Tensor(), Conv2dParams::symmetric(1, 1),
               0.0);
}

TEST(Conv2d, LargeImageUsesSeveralBands) {
  // im2col bands are capped at 8 MiB (2 Mi floats): 16 channels x 9 taps x 1000 columns -> bands of 14 rows.
  const Tensor x = random_normal({1, 16, 40, 1000}, DType::f32, 12);
  const Tensor w = random_normal({2, 16, 3, 3}, DType::f32, 13);
  const Tensor out = conv2d(x, w, Tensor(), Conv2dParams::symmetric(1, 1));
  // Spot-check rows at band edges and the borders against the direct sum.
  const std::vector<double> xv = values(x), wv = values(w), ov = values(out);
  for (std::int64_t i : {0, 13, 14, 27, 28, 39})
    for (std::int64_t j : {0, 500, 999})
      for (std::int64_t o = 0; o < 2; ++o) {
        double acc = 0;
        for (std::int64_t c = 0; c < 16; ++c)
          for (std::int64_t u = 0; u < 3; ++u)
            for (std::int64_t v = 0; v < 3; ++v) {
              const std::int64_t y = i + u - 1, z = j + v - 1;
              if (y >= 0 && y < 40 && z >= 0 && z < 1000)
                acc += wv[((o * 16 + c) * 3 + u) * 3 + v] * xv[(c * 40 + y) * 1000 + z];
            }
        ASSERT_NEAR(ov[(o * 40 + i) * 1000 + j], acc, kConvF32Abs) << i << "," << j;
      }
}

void check_causal(const Tensor& x, const Tensor& w, const Tensor& bias, const CausalConv3dParams& p,
                  const Tensor& cache, double rel = 0.0) {
  const Tensor out = causal_conv3d(x, w, bias, p, cache);
  const auto [pt, ph, pw] = p.padding;
  // The reference's construction: [cache; x] (cache only when pt > 0), front-padded by 2·pt − Tc (the test
  // keeps Tc <= 2·pt), spatial padding (ph, pw) on both sides.
  const Tensor used = pt > 0 ? cache : Tensor();
  const std::int64_t tc = used.defined() ? used.size(2) : 0;
  Shape ps, os;
  const std::vector<double> xp = pad(x, used, 2 * pt - tc, ph, ph, pw, pw, &ps);
  const std::vector<double> ref = direct_conv(xp, ps, w, bias, p.stride[0], p.stride[1], p.stride[2], &os);
  ASSERT_EQ(out.shape(), os);
  EXPECT_TRUE(all_close(out, ref, kConvF32Abs, rel)) << x.str() << " " << w.str();
}

TEST(CausalConv3d, SingleFrameIsLastTapConv2d) {
  const Tensor x = random_normal({2, 4, 1, 6, 7}, DType::f32, 20);
  const Tensor w = random_normal({3, 4, 3, 3, 3}, DType::bf16, 21);
  const Tensor b = random_normal({3}, DType::bf16, 22);
  const CausalConv3dParams p{{1, 1, 1}, {1, 1, 1}};
  check_causal(x, w, b, p, Tensor());
  // Exactly the 2-D convolution with weight[:, :, 2] (the spec's single-image reduction).
  const Tensor y3 = causal_conv3d(x, w, b, p);
  const Tensor y2 = conv2d(x.select(2, 0), w.select(2, 2), b, Conv2dParams::symmetric(1, 1));
  EXPECT_EQ(values(y3.select(2, 0)), values(y2));
}

TEST(CausalConv3d, FramesCacheAndStride) {
  const Tensor w = random_normal({3, 2, 3, 3, 3}, DType::f32, 30);
  const Tensor b = random_normal({3}, DType::f32, 31);
  const CausalConv3dParams p{{1, 1, 1}, {1, 1, 1}};
  const Tensor x3 = random_normal({1, 2, 3, 5, 4}, DType::f32, 32);
  check_causal(x3, w, b, p, Tensor());                                        // zeros in front of frame 0
  check_causal(x3, w, b, p, random_normal({1, 2, 2, 5, 4}, DType::f32, 33));  // a full 2-frame cache
  check_causal(x3.slice(2, 0, 1), w, b, p,
               random_normal({1, 2, 1, 5, 4}, DType::f32, 34));  // 1 cached + 1 zero
  // The time_conv of the VAE's resamplers: kernel (3, 1, 1), padding (1, 0, 0); and a temporal stride of 2.
  const Tensor wt = random_normal({4, 2, 3, 1, 1}, DType::f32, 35);
  check_causal(x3, wt, Tensor(), {{1, 1, 1}, {1, 0, 0}}, Tensor());
  check_causal(random_normal({1, 2, 5, 3, 3}, DType::f32, 36), wt, Tensor(), {{2, 1, 1}, {0, 0, 0}},
               Tensor());
  // Without temporal padding the reference ignores the cache.
  const Tensor w1 = random_normal({3, 2, 1, 1, 1}, DType::f32, 37);
  EXPECT_EQ(values(causal_conv3d(x3, w1, b, {}, random_normal({1, 2, 2, 5, 4}, DType::f32, 38))),
            values(causal_conv3d(x3, w1, b, {})));
  check_causal(x3.to(DType::bf16), w, b, p, Tensor(), kConvBf16Rel);
}

TEST(Upsample, Nearest2x) {
  for (DType dt : {DType::f32, DType::bf16, DType::u8}) {
    const Tensor x = random_normal({2, 3, 5, 7}, dt, 40, 10.0f).transpose(2, 3);  // [2, 3, 7, 5], strided
    const Tensor y = upsample_nearest_2x(x);
    ASSERT_EQ(y.shape(), (Shape{2, 3, 14, 10}));
    ASSERT_EQ(y.dtype(), dt);
    const std::vector<double> xv = values(x), yv = values(y);
    for (std::int64_t p = 0; p < 6; ++p)
      for (std::int64_t i = 0; i < 14; ++i)
        for (std::int64_t j = 0; j < 10; ++j)
          ASSERT_EQ(yv[(p * 14 + i) * 10 + j], xv[(p * 7 + i / 2) * 5 + j / 2]) << p << "," << i << "," << j;
  }
  EXPECT_EQ(upsample_nearest_2x(Tensor::zeros({1, 1}, DType::f32)).shape(), (Shape{2, 2}));
}

TEST(Conv, RejectsBadArguments) {
  const Tensor x = random_normal({1, 3, 5, 5}, DType::f32, 1);
  const Tensor w = random_normal({2, 3, 3, 3}, DType::f32, 2);
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        conv2d(x, random_normal({2, 4, 3, 3}, DType::f32, 3), Tensor());
      },
      {"conv2d", "[1, 3, 5, 5]", "[2, 4, 3, 3]", "channels"}));
  EXPECT_TRUE(
      throws_with<ShapeError>([&] { conv2d(x, w, Tensor::zeros({3}, DType::f32)); }, {"conv2d", "bias"}));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        conv2d(x, random_normal({2, 3, 7, 7}, DType::f32, 4), Tensor());
      },
      {"conv2d", "larger"}));
  EXPECT_TRUE(throws_with<ArgumentError>(
      [&] {
        conv2d(x, w, Tensor(), {{0, 1}, {0, 0, 0, 0}});
      },
      {"conv2d", "stride"}));
  EXPECT_TRUE(
      throws_with<DTypeError>([&] { conv2d(x, w.to(DType::i32), Tensor()); }, {"conv2d", "weight", "i32"}));
  EXPECT_TRUE(throws_with<ShapeError>([&] { conv2d(x.unsqueeze(0), w, Tensor()); }, {"conv2d", "rank 4"}));
  const Tensor x5 = random_normal({1, 3, 1, 5, 5}, DType::f32, 5);
  const Tensor w5 = random_normal({2, 3, 3, 3, 3}, DType::f32, 6);
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        causal_conv3d(x5, w5, Tensor(), {{1, 1, 1}, {1, 1, 1}}, Tensor::zeros({1, 3, 2, 4, 5}, DType::f32));
      },
      {"causal_conv3d", "cache", "[1, 3, 2, 4, 5]"}));
  EXPECT_TRUE(
      throws_with<ShapeError>([&] { causal_conv3d(x5, w5, Tensor(), {}); }, {"causal_conv3d", "larger"}));
  EXPECT_TRUE(throws_with<ShapeError>([] { upsample_nearest_2x(Tensor::zeros({4}, DType::f32)); },
                                      {"upsample_nearest_2x", "[4]"}));
}

}  // namespace
}  // namespace vramkit::ops
