#include "ops/layout.h"

#include <gtest/gtest.h>

#include <vector>

#include "op_test_util.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

using test::random_normal;
using test::throws_with;
using test::values;

double at(const Tensor& t, std::initializer_list<std::int64_t> idx) {
  return t.item_as_double(std::span<const std::int64_t>(idx.begin(), idx.size()));
}

// Layout ops move bits: every comparison below is exact.

TEST(Layout, ConcatAlongEachDim) {
  for (DType dt : {DType::f32, DType::bf16, DType::i64, DType::u8}) {
    const Tensor a = random_normal({2, 3, 5}, dt, 1, 10.0f);
    const Tensor b = random_normal({2, 4, 5}, dt, 2, 10.0f);
    const Tensor c = random_normal({2, 1, 5}, dt, 3, 10.0f).transpose(0, 0);
    const Tensor empty = Tensor::empty({2, 0, 5}, dt);
    const Tensor out = concat({a, empty, b, c}, 1);
    ASSERT_EQ(out.shape(), (Shape{2, 8, 5}));
    ASSERT_EQ(out.dtype(), dt);
    for (std::int64_t i = 0; i < 2; ++i)
      for (std::int64_t j = 0; j < 8; ++j)
        for (std::int64_t k = 0; k < 5; ++k) {
          const double want = j < 3 ? at(a, {i, j, k}) : j < 7 ? at(b, {i, j - 3, k}) : at(c, {i, 0, k});
          ASSERT_EQ(at(out, {i, j, k}), want) << i << "," << j << "," << k;
        }
  }
  // Last dim with non-contiguous inputs (a transposed view).
  const Tensor x = random_normal({4, 3}, DType::f32, 4).transpose(0, 1);  // [3, 4]
  const Tensor y = random_normal({3, 2}, DType::f32, 5);
  const Tensor out = concat({x, y}, -1);
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < 6; ++j)
      ASSERT_EQ(at(out, {i, j}), j < 4 ? at(x, {i, j}) : at(y, {i, j - 4}));
}

TEST(Layout, SplitGivesViewsThatConcatBack) {
  const Tensor x = random_normal({3, 10, 2}, DType::f32, 6);
  const std::vector<Tensor> parts = split(x, {4, 0, 6}, 1);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(parts[1].shape(), (Shape{3, 0, 2}));
  EXPECT_EQ(parts[2].data(), static_cast<char*>(x.data()) + 4 * 2 * sizeof(float));  // a view, no copy
  EXPECT_EQ(values(concat(parts, 1)), values(x));
}

TEST(Layout, PermuteContiguousSmallAndThreaded) {
  // 2 MiB of f32 crosses the threading threshold; odd sizes exercise uneven row ranges.
  for (const Shape& shape : {Shape{2, 3, 5, 7}, Shape{3, 37, 41, 113}}) {
    const Tensor x = random_normal(shape, DType::f32, 7);
    const Tensor y = permute_contiguous(x, {2, 0, 3, 1});
    ASSERT_TRUE(y.is_contiguous());
    ASSERT_EQ(y.shape(), (Shape{shape[2], shape[0], shape[3], shape[1]}));
    const std::vector<double> xv = values(x), yv = values(y);
    std::size_t n = 0;
    for (std::int64_t i2 = 0; i2 < shape[2]; ++i2)
      for (std::int64_t i0 = 0; i0 < shape[0]; ++i0)
        for (std::int64_t i3 = 0; i3 < shape[3]; ++i3)
          for (std::int64_t i1 = 0; i1 < shape[1]; ++i1, ++n)
            ASSERT_EQ(yv[n], xv[((i0 * shape[1] + i1) * shape[2] + i2) * shape[3] + i3]) << n;
  }
  const Tensor z = random_normal({64, 3, 4096}, DType::bf16, 8).slice(2, 1, 4000, 3);
  const Tensor zc = contiguous(z);
  ASSERT_TRUE(zc.is_contiguous());
  EXPECT_EQ(values(zc), values(z));
  EXPECT_EQ(contiguous(zc).data(), zc.data());  // already contiguous: no copy
}

TEST(Layout, PackLatentsChannelOrder) {
  // Reference (pipeline _pack_latents): out[b, row·(W/2) + col, c·4 + dy·2 + dx] = x[b, c, 2row + dy, 2col +
  // dx].
  for (const Shape& shape : {Shape{2, 16, 6, 10}, Shape{1, 3, 2, 2}}) {
    const Tensor x = random_normal(shape, DType::bf16, 9);
    const Tensor p = pack_latents(x);
    const std::int64_t B = shape[0], C = shape[1], H = shape[2], W = shape[3];
    ASSERT_EQ(p.shape(), (Shape{B, (H / 2) * (W / 2), 4 * C}));
    ASSERT_EQ(p.dtype(), DType::bf16);
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t row = 0; row < H / 2; ++row)
        for (std::int64_t col = 0; col < W / 2; ++col)
          for (std::int64_t c = 0; c < C; ++c)
            for (std::int64_t dy = 0; dy < 2; ++dy)
              for (std::int64_t dx = 0; dx < 2; ++dx)
                ASSERT_EQ(at(p, {b, row * (W / 2) + col, c * 4 + dy * 2 + dx}),
                          at(x, {b, c, 2 * row + dy, 2 * col + dx}));
    const Tensor u = unpack_latents(p, H, W);
    ASSERT_EQ(u.shape(), shape);
    EXPECT_EQ(values(u), values(x));
  }
  // A strided input (channels-last storage viewed as [B, C, H, W]) packs the same as its contiguous copy.
  const Tensor nhwc = random_normal({2, 8, 12, 4}, DType::f32, 10).permute({0, 3, 1, 2});
  ASSERT_FALSE(nhwc.is_contiguous());
  EXPECT_EQ(values(pack_latents(nhwc)), values(pack_latents(nhwc.contiguous())));
  const Tensor packed_view = random_normal({2, 12, 20}, DType::f32, 11).slice(2, 2, 18);
  EXPECT_EQ(values(unpack_latents(packed_view, 6, 8)),
            values(unpack_latents(packed_view.contiguous(), 6, 8)));
}

TEST(Layout, RejectsBadArguments) {
  const Tensor a = random_normal({2, 3}, DType::f32, 1);
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        concat({a, random_normal({3, 3}, DType::f32, 2)}, 1);
      },
      {"concat", "[2, 3]", "[3, 3]"}));
  EXPECT_TRUE(throws_with<ShapeError>([&] { concat({a, a.to(DType::bf16)}, 0); }, {"concat", "bf16"}));
  EXPECT_TRUE(throws_with<ShapeError>([&] { concat({a}, 2); }, {"concat", "dim 2"}));
  EXPECT_TRUE(throws_with<ArgumentError>([&] { concat(std::span<const Tensor>(), 0); }, {"concat"}));
  EXPECT_TRUE(throws_with<ShapeError>([&] { split(a, {1, 1}, 1); }, {"split", "[1, 1]", "[2, 3]"}));
  EXPECT_TRUE(throws_with<ShapeError>([&] { split(a, {4, -1}, 1); }, {"split", "-1"}));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        pack_latents(Tensor::zeros({1, 16, 5, 4}, DType::f32));
      },
      {"pack_latents", "[1, 16, 5, 4]"}));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        pack_latents(Tensor::zeros({16, 4, 4}, DType::f32));
      },
      {"pack_latents", "rank 4"}));
  const Tensor p = Tensor::zeros({1, 6, 64}, DType::f32);
  EXPECT_TRUE(throws_with<ShapeError>([&] { unpack_latents(p, 6, 6); },
                                      {"unpack_latents", "[1, 6, 64]", "6 x width 6"}));
  EXPECT_TRUE(throws_with<ShapeError>([&] { unpack_latents(p, 3, 8); }, {"unpack_latents"}));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        unpack_latents(Tensor::zeros({1, 6, 62}, DType::f32), 4, 6);
      },
      {"unpack_latents", "multiple of 4"}));
}

}  // namespace
}  // namespace vramkit::ops
