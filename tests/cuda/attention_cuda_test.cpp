// The fused CUDA attention (ops/cuda/attention_cuda.h) against ops::attention on the CPU, on fresh random
// inputs: head dims 64 and 128, bf16 and f16, query and key lengths that are no multiple of the tiles (32),
// Lq != Lk, grouped-query heads, the causal mask (including queries that see no key), key padding masks with
// left padding and a batch element with no valid key.
// Tolerance: both compute in f32 in different orders (relative differences ~1e-6 before the output's rounding),
// so one unit in the last place of the output dtype · |want| + 1e-5 (outputs are averages of values in [-1, 1]).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cuda_op_test_util.h"
#include "cuda_test_util.h"
#include "ops/attention.h"
#include "ops/cuda/attention_cuda.h"
#include "ops/op_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

struct AttentionCase {
  ops::cpu::AttentionDims dims;
  bool causal;
  bool mask;
};

void check_attention(const AttentionCase& c, DType dt, std::uint32_t seed) {
  const ops::cpu::AttentionDims& d = c.dims;
  // q scaled up so that the softmax is peaked, not a near-uniform average.
  const Tensor q = test::random_tensor({d.batch, d.q_len, d.q_heads, d.head_dim}, dt, seed, -2.0f, 2.0f);
  const Tensor k = test::random_tensor({d.batch, d.kv_len, d.kv_heads, d.head_dim}, dt, seed + 1);
  const Tensor v = test::random_tensor({d.batch, d.kv_len, d.kv_heads, d.head_dim}, dt, seed + 2);
  ops::AttentionOptions options;
  options.causal = c.causal;
  Tensor mask;
  if (c.mask) {
    // Batch 0: left padding of a third of the keys plus random holes; batch 1 (if any): no valid key.
    std::mt19937 rng(seed + 3);
    std::vector<float> valid(static_cast<std::size_t>(d.batch * d.kv_len), 0.0f);
    for (std::int64_t j = 0; j < d.kv_len; ++j) valid[static_cast<std::size_t>(j)] = j >= d.kv_len / 3 && rng() % 5 != 0;
    for (std::int64_t b = 2; b < d.batch; ++b)
      for (std::int64_t j = 0; j < d.kv_len; ++j) valid[static_cast<std::size_t>(b * d.kv_len + j)] = rng() % 2;
    mask = Tensor::from_floats({d.batch, d.kv_len}, valid).to(DType::u8);
    options.key_mask = mask;
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(d.head_dim));
  const Tensor want = ops::attention(q, k, v, options);
  const cuda::DeviceBuffer dq = test::to_device(q), dk = test::to_device(k), dv = test::to_device(v),
                           dmask = c.mask ? test::to_device(mask) : cuda::DeviceBuffer();
  const cuda::DeviceBuffer out = test::poisoned(q.nbytes());
  cuda::launch_attention(dq.data(), dk.data(), dv.data(), out.data(), dt, d,
                         c.mask ? static_cast<const std::uint8_t*>(dmask.data()) : nullptr, c.causal, scale, nullptr);
  EXPECT_TRUE(test::close_to(test::from_device(out, q.shape(), dt), want, 1e-5, test::ulp_rtol(dt),
                             "attention q " + q.str() + " k " + k.str() + (c.causal ? " causal" : "") +
                                 (c.mask ? " key mask" : "")));
}

TEST(CudaAttention, MatchesTheCpu) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  const AttentionCase cases[] = {
      {{1, 1, 1, 1, 1, 64}, false, false},
      {{1, 7, 7, 2, 2, 64}, true, false},
      {{2, 100, 100, 3, 3, 128}, false, false},
      {{2, 37, 100, 4, 2, 128}, true, true},   // Lq < Lk, grouped-query, both masks; batch 1 has no valid key
      {{1, 70, 33, 2, 1, 64}, true, false},    // Lq > Lk: the first 37 queries see no key under the causal mask
      {{3, 65, 129, 6, 2, 64}, false, true},   // Qwen2.5-VL's 3:1 grouping, random holes
      {{1, 300, 300, 2, 2, 128}, true, false},
  };
  for (DType dt : {DType::bf16, DType::f16})
    for (const AttentionCase& c : cases) check_attention(c, dt, seed);
}

TEST(CudaAttention, RejectsUnsupportedInput) {
  EXPECT_TRUE(cuda::attention_supported(DType::bf16, 128));
  EXPECT_FALSE(cuda::attention_supported(DType::f32, 128));
  EXPECT_FALSE(cuda::attention_supported(DType::bf16, 80));
  EXPECT_TRUE(test::throws_with<DTypeError>(
      [] { cuda::launch_attention(nullptr, nullptr, nullptr, nullptr, DType::f32, {1, 1, 1, 1, 1, 64}, nullptr, false, 1.0f, nullptr); },
      {"cuda attention", "dtype f32"}));
  EXPECT_TRUE(test::throws_with<ArgumentError>(
      [] { cuda::launch_attention(nullptr, nullptr, nullptr, nullptr, DType::bf16, {1, 4, 4, 2, 2, 96}, nullptr, false, 1.0f, nullptr); },
      {"cuda attention", "head_dim 96", "q [1, 4, 2, 96]"}));
  EXPECT_TRUE(test::throws_with<ArgumentError>(
      [] { cuda::launch_attention(nullptr, nullptr, nullptr, nullptr, DType::bf16, {1, 4, 4, 3, 2, 64}, nullptr, false, 1.0f, nullptr); },
      {"cuda attention", "multiple of key/value heads"}));
}

}  // namespace
}  // namespace vramkit
