#include "ops/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/allocator.h"
#include "op_test_util.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

using test::all_close;
using test::random_normal;
using test::throws_with;
using test::values;

struct Case {
  std::int64_t b, lq, lk, hq, hkv, d;
};

// Straightforward double-precision attention over the logical values: full score rows, exact exp, the masks
// of attention.h (bottom-right causal, non-zero key_mask = valid), zeros for a row without allowed keys.
// `rows` limits the query rows computed (all when negative); the other rows of the result are left 0.
std::vector<double> reference(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o,
                              std::int64_t row_step = 1) {
  const std::int64_t B = q.size(0), Lq = q.size(1), Hq = q.size(2), D = q.size(3);
  const std::int64_t Lk = k.size(1), Hkv = k.size(2);
  const std::vector<double> qv = values(q), kv = values(k), vv = values(v);
  const std::vector<double> mv = o.key_mask.defined() ? values(o.key_mask) : std::vector<double>();
  const double scale = o.scale ? *o.scale : 1.0 / std::sqrt(static_cast<double>(D));
  std::vector<double> out(static_cast<std::size_t>(B * Lq * Hq * D), 0.0);
  std::vector<double> s(static_cast<std::size_t>(Lk));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < Hq; ++h) {
      const std::int64_t g = h / (Hq / Hkv);
      for (std::int64_t i = 0; i < Lq; i += row_step) {
        double mx = -INFINITY;
        for (std::int64_t j = 0; j < Lk; ++j) {
          const bool allowed = (!o.causal || j <= i + (Lk - Lq)) && (mv.empty() || mv[b * Lk + j] != 0.0);
          double dot = 0.0;
          for (std::int64_t c = 0; c < D; ++c)
            dot += qv[((b * Lq + i) * Hq + h) * D + c] * kv[((b * Lk + j) * Hkv + g) * D + c];
          s[j] = allowed ? dot * scale : -INFINITY;
          mx = std::max(mx, s[j]);
        }
        if (mx == -INFINITY) continue;
        double sum = 0.0;
        for (std::int64_t j = 0; j < Lk; ++j) sum += (s[j] = std::exp(s[j] - mx));
        for (std::int64_t c = 0; c < D; ++c) {
          double acc = 0.0;
          for (std::int64_t j = 0; j < Lk; ++j) acc += s[j] * vv[((b * Lk + j) * Hkv + g) * D + c];
          out[((b * Lq + i) * Hq + h) * D + c] = acc / sum;
        }
      }
    }
  return out;
}

// f32: the logits (up to ~±20 here) carry f32 GEMM rounding, which exp turns into relative weight errors
// ~1e-5.
constexpr double kF32Abs = 1e-4;
// bf16/f16: the reference uses the rounded inputs; the output is rounded once more (half an ulp).
constexpr double kBf16Rel = 1.0 / 256;
constexpr double kF16Rel = 1.0 / 2048;

void check_case(const Case& c, DType dtype, const AttentionOptions& o, std::uint32_t seed,
                float q_std = 1.0f) {
  const Tensor q = random_normal({c.b, c.lq, c.hq, c.d}, dtype, seed, q_std);
  const Tensor k = random_normal({c.b, c.lk, c.hkv, c.d}, dtype, seed + 1);
  const Tensor v = random_normal({c.b, c.lk, c.hkv, c.d}, dtype, seed + 2);
  const Tensor out = attention(q, k, v, o);
  ASSERT_EQ(out.dtype(), dtype);
  ASSERT_EQ(out.shape(), q.shape());
  const double rel = dtype == DType::bf16 ? kBf16Rel : dtype == DType::f16 ? kF16Rel : 0.0;
  EXPECT_TRUE(all_close(out, reference(q, k, v, o), kF32Abs, rel))
      << "B" << c.b << " Lq" << c.lq << " Lk" << c.lk << " Hq" << c.hq << " Hkv" << c.hkv << " D" << c.d;
}

// Shapes below and above the kernel's 256-query and 512-key blocks, odd lengths, single rows.
const Case kShapes[] = {{1, 1, 1, 1, 1, 4},      {2, 7, 7, 3, 3, 8},      {1, 1, 13, 2, 2, 5},
                        {2, 300, 600, 2, 2, 16}, {1, 37, 1029, 1, 1, 12}, {1, 513, 257, 1, 1, 8}};

TEST(Attention, MultiHeadF32) {
  std::uint32_t seed = 10;
  for (const Case& c : kShapes) check_case(c, DType::f32, {}, seed += 3, 3.0f);
}

TEST(Attention, GroupedQuery) {
  check_case({2, 19, 23, 6, 2, 8}, DType::f32, {}, 40);
  check_case({1, 70, 530, 4, 1, 16}, DType::f32, {}, 41);
  check_case({1, 9, 9, 28, 4, 4}, DType::f32, {}, 42);  // Qwen2.5-VL's 7:1 grouping
}

TEST(Attention, Causal) {
  AttentionOptions o;
  o.causal = true;
  check_case({2, 17, 17, 2, 2, 8}, DType::f32, o, 50);
  check_case({1, 300, 300, 2, 1, 8}, DType::f32, o, 51, 3.0f);  // crosses query and key blocks
  check_case({1, 5, 12, 2, 2, 8}, DType::f32, o, 52);           // Lq < Lk: bottom-right aligned
  check_case({1, 9, 4, 1, 1, 8}, DType::f32, o, 53);            // Lq > Lk: the first 5 rows see no key
}

TEST(Attention, CausalRowsWithoutKeysAreZero) {
  AttentionOptions o;
  o.causal = true;
  const Tensor q = random_normal({1, 6, 1, 4}, DType::f32, 54);
  const Tensor k = random_normal({1, 2, 1, 4}, DType::f32, 55);
  const Tensor out = attention(q, k, k, o);
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t c = 0; c < 4; ++c)
      EXPECT_EQ(out.item_as_double(std::vector<std::int64_t>{0, i, 0, c}), 0.0);
  EXPECT_NE(out.item_as_double(std::vector<std::int64_t>{0, 5, 0, 0}), 0.0);
}

// A [B, Lk] mask of the given dtype from 0/1 flags.
Tensor mask_of(const std::vector<float>& flags, std::int64_t b, DType dtype) {
  const std::int64_t lk = static_cast<std::int64_t>(flags.size()) / b;
  return Tensor::from_floats({b, lk}, flags).to(dtype);
}

TEST(Attention, KeyPaddingMask) {
  const std::int64_t lk = 600;
  std::vector<float> flags(2 * lk, 1.0f);
  for (std::int64_t j = 0; j < 37; ++j) flags[j] = 0.0f;          // batch 0: left padding
  for (std::int64_t j = 520; j < lk; ++j) flags[lk + j] = 0.0f;   // batch 1: right padding, a wholly padded
  for (std::int64_t j = 0; j < lk; j += 7) flags[lk + j] = 0.0f;  // block, and scattered holes
  for (DType mdt : {DType::boolean, DType::u8, DType::i32, DType::i64}) {
    AttentionOptions o;
    o.key_mask = mask_of(flags, 2, mdt);
    check_case({2, 11, lk, 2, 2, 8}, DType::f32, o, 60);
  }
  AttentionOptions neg;  // any non-zero integer marks a valid key, negative ones included
  std::vector<float> signs(flags);
  for (float& f : signs) f = f != 0.0f ? -3.0f : 0.0f;
  neg.key_mask = mask_of(signs, 2, DType::i32);
  check_case({2, 11, lk, 2, 2, 8}, DType::f32, neg, 60);
}

// Key lengths are the key padding mask whose valid keys come first: the same bits as that mask, a sequence
// with no key gives zeros, and against the double-precision reference.
TEST(Attention, KeyLengthsAreAMaskOfLeadingKeys) {
  const std::vector<std::int64_t> lengths{600, 0, 523};
  std::vector<float> flags(3 * 600, 0.0f);
  for (std::size_t b = 0; b < lengths.size(); ++b)
    for (std::int64_t j = 0; j < lengths[b]; ++j) flags[b * 600 + static_cast<std::size_t>(j)] = 1.0f;
  AttentionOptions by_lengths, by_mask;
  by_lengths.key_lengths = lengths;
  by_mask.key_mask = mask_of(flags, 3, DType::u8);
  const Tensor q = random_normal({3, 11, 2, 8}, DType::bf16, 70);
  const Tensor k = random_normal({3, 600, 2, 8}, DType::bf16, 71),
               v = random_normal({3, 600, 2, 8}, DType::bf16, 72);
  const Tensor got = attention(q, k, v, by_lengths), want = attention(q, k, v, by_mask);
  EXPECT_EQ(values(got), values(want));
  for (const double x : values(got.slice(0, 1, 2))) EXPECT_EQ(x, 0.0);
  check_case({3, 11, 600, 2, 2, 8}, DType::f32, by_mask, 73);
  EXPECT_EQ(values(key_mask_of_lengths(lengths, 600)), values(by_mask.key_mask.to(DType::boolean)));
}

TEST(Attention, CausalWithLeftPaddingAndEmptyBatch) {
  const std::int64_t l = 13;
  std::vector<float> flags(2 * l, 1.0f);
  for (std::int64_t j = 0; j < 4; ++j) flags[j] = 0.0f;      // batch 0: rows 0..3 are left with no key
  for (std::int64_t j = 0; j < l; ++j) flags[l + j] = 0.0f;  // batch 1: nothing valid at all
  AttentionOptions o;
  o.causal = true;
  o.key_mask = mask_of(flags, 2, DType::boolean);
  check_case({2, l, l, 4, 2, 8}, DType::f32, o, 70);
  const Tensor q = random_normal({2, l, 1, 8}, DType::f32, 71);
  const Tensor out = attention(q, q, q, o);
  for (double x : values(out.select(0, 1))) ASSERT_EQ(x, 0.0);
  for (double x : values(out.select(0, 0).slice(0, 0, 4))) ASSERT_EQ(x, 0.0);
}

TEST(Attention, CustomScale) {
  AttentionOptions o;
  o.scale = 0.73f;
  check_case({1, 21, 33, 2, 1, 8}, DType::f32, o, 80);
}

TEST(Attention, NarrowDTypes) {
  AttentionOptions causal;
  causal.causal = true;
  for (DType dt : {DType::bf16, DType::f16}) {
    check_case({2, 19, 23, 4, 2, 8}, dt, {}, 90);
    check_case({1, 300, 300, 2, 2, 16}, dt, causal, 91);
  }
}

TEST(Attention, StridedViews) {
  // q as the transpose of a [B, H, L, D] tensor, k as a slice along the sequence, v from a wider head axis.
  const Tensor q = random_normal({2, 3, 10, 8}, DType::f32, 100).transpose(1, 2);
  const Tensor k = random_normal({2, 20, 3, 8}, DType::f32, 101).slice(1, 3, 17);
  const Tensor v = random_normal({2, 14, 6, 8}, DType::f32, 102).slice(2, 1, 4);
  ASSERT_FALSE(q.is_contiguous());
  ASSERT_FALSE(k.is_contiguous());
  ASSERT_FALSE(v.is_contiguous());
  EXPECT_TRUE(all_close(attention(q, k, v), reference(q, k, v, {}), kF32Abs, 0.0));
}

TEST(Attention, LongSequenceMemoryStaysBlocked) {
  // 4096 tokens: a materialized score matrix would be 4096² floats = 64 MiB; the blocked kernel needs the
  // inputs and output (4 x 256 KiB here) plus one 256 x 512 score block.
  const std::int64_t l = 4096, d = 16;
  const Tensor q = random_normal({1, l, 1, d}, DType::f32, 110, 2.0f);
  const Tensor k = random_normal({1, l, 1, d}, DType::f32, 111);
  const Tensor v = random_normal({1, l, 1, d}, DType::f32, 112);
  AttentionOptions o;
  o.causal = true;
  const auto& alloc = host_allocator();
  alloc->reset_peak();
  const std::size_t before = alloc->allocated_bytes();
  const Tensor out = attention(q, k, v, o);
  const std::size_t extra = alloc->peak_bytes() - before;
  const std::size_t scores_bytes = static_cast<std::size_t>(l * l) * sizeof(float);
  EXPECT_LT(extra, 2u << 20) << "peak grew by " << extra << " bytes";
  EXPECT_LT(extra * 32, scores_bytes);
  // Every 97th row against the double reference.
  const std::int64_t step = 97;
  const std::vector<double> ref = reference(q, k, v, o, step);
  const std::vector<double> got = values(out);
  for (std::int64_t i = 0; i < l; i += step)
    for (std::int64_t c = 0; c < d; ++c)
      ASSERT_NEAR(got[i * d + c], ref[i * d + c], kF32Abs) << "row " << i << " col " << c;
}

TEST(Attention, RejectsBadArguments) {
  const Tensor q = random_normal({2, 5, 6, 8}, DType::f32, 1);
  const Tensor k = random_normal({2, 7, 4, 8}, DType::f32, 2);
  const Tensor k3 = random_normal({2, 7, 3, 8}, DType::f32, 2);
  EXPECT_TRUE(
      throws_with<ShapeError>([&] { attention(q, k, k); }, {"attention", "[2, 5, 6, 8]", "[2, 7, 4, 8]"}));
  EXPECT_TRUE(
      throws_with<ShapeError>([&] { attention(q, k3, k3.slice(1, 0, 6)); }, {"attention", "k and v"}));
  EXPECT_TRUE(throws_with<ShapeError>([&] { attention(q.select(0, 0), k3, k3); }, {"attention", "rank 4"}));
  EXPECT_TRUE(throws_with<ShapeError>([&] { attention(q, k3.slice(3, 0, 4), k3.slice(3, 0, 4)); },
                                      {"attention", "head_dim"}));
  EXPECT_TRUE(throws_with<DTypeError>([&] { attention(q.to(DType::i32), k3, k3); }, {"attention", "i32"}));
  AttentionOptions bad_mask;
  bad_mask.key_mask = Tensor::zeros({2, 6}, DType::boolean);
  EXPECT_TRUE(throws_with<ShapeError>([&] { attention(q, k3, k3, bad_mask); },
                                      {"key_mask", "[2, 6]", "[2, 7, 3, 8]"}));
  AttentionOptions float_mask;
  float_mask.key_mask = Tensor::zeros({2, 7}, DType::f32);
  EXPECT_TRUE(throws_with<DTypeError>([&] { attention(q, k3, k3, float_mask); }, {"key_mask", "f32"}));
  AttentionOptions lengths_and_mask;
  lengths_and_mask.key_lengths = {7, 7};
  lengths_and_mask.key_mask = Tensor::zeros({2, 7}, DType::boolean);
  EXPECT_TRUE(throws_with<ArgumentError>([&] { attention(q, k3, k3, lengths_and_mask); },
                                         {"attention", "key_mask and key_lengths"}));
  AttentionOptions one_length;
  one_length.key_lengths = {7};
  EXPECT_TRUE(
      throws_with<ShapeError>([&] { attention(q, k3, k3, one_length); }, {"attention", "1 key lengths"}));
  AttentionOptions long_length;
  long_length.key_lengths = {7, 8};
  EXPECT_TRUE(
      throws_with<ArgumentError>([&] { attention(q, k3, k3, long_length); }, {"key length 8", "[0, 7]"}));
  AttentionOptions inf_scale;
  inf_scale.scale = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(throws_with<ArgumentError>([&] { attention(q, k3, k3, inf_scale); }, {"attention", "scale"}));
}

}  // namespace
}  // namespace vramkit::ops
