// Both fused CUDA attention kernels (ops/cuda/attention_cuda.h) against ops::attention on the CPU, on fresh
// random inputs: head dims 64 and 128, bf16 and f16, query and key lengths that are no multiple of the tiles
// (32, 64), Lq != Lk, grouped-query heads, the causal mask (including queries that see no key), key padding
// masks with left padding and a batch element with no valid key.
// Tolerances (outputs are weighted averages of v in [-1, 1] over the allowed keys): one unit in the last
// place of the output dtype · |want| (both sides round f32 values that differ in their last bits) plus:
//   cuda_cores: 1e-5 (f32 throughout, another summation order);
//   tensor_cores: 2^-8 (bf16) or 2^-11 (f16): the probabilities are rounded to the input dtype (unit
//   roundoff 2^-8 / 2^-11) before P·V, which moves Σ_j p_j·v_j / l by at most that times max|v| = 1.
// Padded keys carry values of 50, so a masked key leaking into a row shows far above these tolerances.
#include "ops/cuda/attention_cuda.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cuda_op_test_util.h"
#include "cuda_test_util.h"
#include "ops/attention.h"
#include "ops/op_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

struct AttentionCase {
  ops::cpu::AttentionDims dims;
  bool causal;
  bool mask;
};

void check_attention(const AttentionCase& c, DType dt, cuda::AttentionKernel kernel, std::uint32_t seed) {
  const ops::cpu::AttentionDims& d = c.dims;
  // q scaled up so that the softmax is peaked, not a near-uniform average.
  const Tensor q = test::random_tensor({d.batch, d.q_len, d.q_heads, d.head_dim}, dt, seed, -2.0f, 2.0f);
  const Tensor k = test::random_tensor({d.batch, d.kv_len, d.kv_heads, d.head_dim}, dt, seed + 1);
  Tensor v = test::random_tensor({d.batch, d.kv_len, d.kv_heads, d.head_dim}, dt, seed + 2);
  ops::AttentionOptions options;
  options.causal = c.causal;
  Tensor mask;
  if (c.mask) {
    // Batch 0: left padding of a third of the keys plus random holes; batch 1 (if any): no valid key.
    std::mt19937 rng(seed + 3);
    std::vector<float> valid(static_cast<std::size_t>(d.batch * d.kv_len), 0.0f);
    for (std::int64_t j = 0; j < d.kv_len; ++j)
      valid[static_cast<std::size_t>(j)] = j >= d.kv_len / 3 && rng() % 5 != 0;
    for (std::int64_t b = 2; b < d.batch; ++b)
      for (std::int64_t j = 0; j < d.kv_len; ++j)
        valid[static_cast<std::size_t>(b * d.kv_len + j)] = rng() % 2;
    mask = Tensor::from_floats({d.batch, d.kv_len}, valid).to(DType::u8);
    options.key_mask = mask;
    v = test::poison_padded_values(v, valid);
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(d.head_dim));
  const Tensor want = ops::attention(q, k, v, options);
  const cuda::DeviceBuffer dq = test::to_device(q), dk = test::to_device(k), dv = test::to_device(v),
                           dmask = c.mask ? test::to_device(mask) : cuda::DeviceBuffer();
  const cuda::DeviceBuffer out = test::poisoned(q.nbytes());
  cuda::launch_attention(dq.data(), dk.data(), dv.data(), out.data(), dt, d,
                         c.mask ? static_cast<const std::uint8_t*>(dmask.data()) : nullptr, c.causal, scale,
                         kernel, nullptr);
  const bool tensor_cores = kernel == cuda::AttentionKernel::tensor_cores;
  const double atol = !tensor_cores ? 1e-5 : dt == DType::bf16 ? 1.0 / 256 : 1.0 / 2048;
  EXPECT_TRUE(test::close_to(test::from_device(out, q.shape(), dt), want, atol, test::ulp_rtol(dt),
                             std::string(tensor_cores ? "tensor_cores" : "cuda_cores") + " attention q " +
                                 q.str() + " k " + k.str() + (c.causal ? " causal" : "") +
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
      {{2, 37, 100, 4, 2, 128}, true, true},  // Lq < Lk, grouped-query, both masks; batch 1 has no valid key
      {{1, 70, 33, 2, 1, 64}, true, false},  // Lq > Lk: the first 37 queries see no key under the causal mask
      {{1, 200, 33, 2, 1, 128}, true, false},  // 167 queries see no key: whole tiles skip the key loop
      {{3, 65, 129, 6, 2, 64}, false, true},   // Qwen2.5-VL's 3:1 grouping, random holes
      {{1, 300, 300, 2, 2, 128}, true, false},
      {{1, 129, 1000, 2, 2, 128}, false, false},  // many key tiles: the running maximum and rescaling
  };
  for (auto kernel : {cuda::AttentionKernel::tensor_cores, cuda::AttentionKernel::cuda_cores})
    for (DType dt : {DType::bf16, DType::f16})
      for (const AttentionCase& c : cases) check_attention(c, dt, kernel, seed);
}

TEST(CudaAttention, RejectsUnsupportedInput) {
  EXPECT_TRUE(cuda::attention_supported(DType::bf16, 128));
  EXPECT_FALSE(cuda::attention_supported(DType::f32, 128));
  EXPECT_FALSE(cuda::attention_supported(DType::bf16, 80));
  EXPECT_TRUE(test::throws_with<DTypeError>(
      [] {
        cuda::launch_attention(nullptr, nullptr, nullptr, nullptr, DType::f32, {1, 1, 1, 1, 1, 64}, nullptr,
                               false, 1.0f, cuda::AttentionKernel::tensor_cores, nullptr);
      },
      {"cuda attention", "dtype f32"}));
  EXPECT_TRUE(test::throws_with<ArgumentError>(
      [] {
        cuda::launch_attention(nullptr, nullptr, nullptr, nullptr, DType::bf16, {1, 4, 4, 2, 2, 96}, nullptr,
                               false, 1.0f, cuda::AttentionKernel::tensor_cores, nullptr);
      },
      {"cuda attention", "head_dim 96", "q [1, 4, 2, 96]"}));
  EXPECT_TRUE(test::throws_with<ArgumentError>(
      [] {
        cuda::launch_attention(nullptr, nullptr, nullptr, nullptr, DType::bf16, {1, 4, 4, 3, 2, 64}, nullptr,
                               false, 1.0f, cuda::AttentionKernel::tensor_cores, nullptr);
      },
      {"cuda attention", "multiple of key/value heads"}));
}

}  // namespace
}  // namespace vramkit
