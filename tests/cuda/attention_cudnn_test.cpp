// cuDNN's fused attention (ops/cuda/attention_cudnn.h) against ops::attention on the CPU, on fresh random
// inputs: bf16 and f16, head dims 64 and 128, odd lengths (7, 257, 1031), Lq != Lk both ways, grouped-query
// heads, the causal mask (square, bottom-right with Lq < Lk, and Lq > Lk where the first rows see no key),
// key padding masks (suffix padding, left padding with holes, a batch element with no valid key) and both
// masks together; plus the two helper kernels alone (exact), the plan cache and its bound, the scale passed
// at run time, and the refusals. Tolerance: that of our tensor-core kernel (attention_cuda_test.cpp), for the
// same reason: cuDNN rounds the probabilities to the input dtype (unit roundoff 2^-8 bf16, 2^-11 f16) before
// P·V, which moves the output Σ_j p_j·v_j / l by at most that times max|v| = 1; plus one unit in the last
// place of the output dtype · |want| (both sides round f32 values that differ in their last bits). Padded
// keys carry values of 50, so a masked key leaking into a row shows far above this. A case cuDNN refuses
// fails here with cuDNN's reason (supports() is expected to say yes to all of them); the refusal test checks
// what it must refuse.
#include "ops/cuda/attention_cudnn.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cuda_op_test_util.h"
#include "cuda_test_util.h"
#include "ops/attention.h"
#include "ops/cuda/attention_cudnn_masks_cuda.h"
#include "ops/op_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

// Key masks of the cases, per batch element b (b modulo 3): 0 suffix padding (the first two thirds valid),
// 1 no valid key, 2 left padding of a third plus random holes.
std::vector<float> key_mask_values(std::int64_t batch, std::int64_t kv_len, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> valid(static_cast<std::size_t>(batch * kv_len), 0.0f);
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t j = 0; j < kv_len; ++j) {
      const int pattern = static_cast<int>(b % 3);
      const bool v = pattern == 0   ? j < std::max<std::int64_t>(1, 2 * kv_len / 3)
                     : pattern == 1 ? false
                                    : j >= kv_len / 3 && rng() % 5 != 0;
      valid[static_cast<std::size_t>(b * kv_len + j)] = v ? 1.0f : 0.0f;
    }
  return valid;
}

struct CudnnCase {
  ops::cpu::AttentionDims dims;
  bool causal;
  bool mask;
};

std::string case_text(const CudnnCase& c, DType dt) {
  const auto& d = c.dims;
  return std::string(dtype_name(dt)) + " B " + std::to_string(d.batch) + " Lq " + std::to_string(d.q_len) +
         " Lk " + std::to_string(d.kv_len) + " Hq " + std::to_string(d.q_heads) + " Hkv " +
         std::to_string(d.kv_heads) + " D " + std::to_string(d.head_dim) + (c.causal ? " causal" : "") +
         (c.mask ? " key mask" : "");
}

void check_cudnn_attention(cuda::CudnnAttention& attention, const CudnnCase& c, DType dt, float scale,
                           std::uint32_t seed) {
  const ops::cpu::AttentionDims& d = c.dims;
  const std::string what = "cudnn attention " + case_text(c, dt) + " scale " + std::to_string(scale);
  std::string reason;
  if (!attention.supports(dt, d, c.mask, c.causal, &reason)) {
    ADD_FAILURE() << what << ": supports() says no: " << reason;
    return;
  }
  // q scaled up so that the softmax is peaked, not a near-uniform average.
  const Tensor q = test::random_tensor({d.batch, d.q_len, d.q_heads, d.head_dim}, dt, seed, -2.0f, 2.0f);
  const Tensor k = test::random_tensor({d.batch, d.kv_len, d.kv_heads, d.head_dim}, dt, seed + 1);
  Tensor v = test::random_tensor({d.batch, d.kv_len, d.kv_heads, d.head_dim}, dt, seed + 2);
  ops::AttentionOptions options;
  options.causal = c.causal;
  options.scale = scale;
  Tensor mask;
  if (c.mask) {
    const std::vector<float> valid = key_mask_values(d.batch, d.kv_len, seed + 3);
    mask = Tensor::from_floats({d.batch, d.kv_len}, valid).to(DType::u8);
    options.key_mask = mask;
    v = test::poison_padded_values(v, valid);
  }
  const Tensor want = ops::attention(q, k, v, options);
  const cuda::DeviceBuffer dq = test::to_device(q), dk = test::to_device(k), dv = test::to_device(v),
                           dmask = c.mask ? test::to_device(mask) : cuda::DeviceBuffer();
  const cuda::DeviceBuffer out = test::poisoned(q.nbytes());
  attention.run(dq.data(), dk.data(), dv.data(), out.data(), dt, d,
                c.mask ? static_cast<const std::uint8_t*>(dmask.data()) : nullptr, c.causal, scale, nullptr);
  const double atol = dt == DType::bf16 ? 1.0 / 256 : 1.0 / 2048;
  EXPECT_TRUE(test::close_to(test::from_device(out, q.shape(), dt), want, atol, test::ulp_rtol(dt), what));
}

TEST(CudnnAttention, MatchesTheCpu) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::CudnnAttention attention;
  const CudnnCase cases[] = {
      {{1, 7, 7, 2, 2, 64}, false, false},
      {{2, 257, 257, 4, 4, 128}, true, false},    // square causal (top-left = bottom-right)
      {{1, 1031, 1031, 2, 2, 64}, false, false},  // many key tiles, odd length
      {{1, 100, 1031, 2, 2, 64}, true, false},    // Lq < Lk: bottom-right causal in the graph
      {{1, 257, 100, 2, 1, 128}, true, false},    // Lq > Lk: 157 rows with no key, the rest square; GQA 2:1
      {{3, 37, 257, 6, 2, 128}, false, true},     // Lq < Lk, GQA 3:1, all three mask patterns
      {{3, 257, 7, 4, 4, 64}, false, true},       // Lq > Lk with key masks
      {{3, 129, 129, 2, 2, 128}, true, true},     // causal + key mask (square): rows emptied by padding
      {{2, 300, 100, 2, 2, 64}, true, true},      // causal + key mask with Lq > Lk (sliced to square)
  };
  for (DType dt : {DType::bf16, DType::f16})
    for (const CudnnCase& c : cases)
      check_cudnn_attention(attention, c, dt, 1.0f / std::sqrt(float(c.dims.head_dim)), seed);
}

TEST(CudnnAttention, ReusesPlansAndReadsTheScaleAtEachRun) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::CudnnAttention attention;
  const CudnnCase c{{1, 65, 65, 2, 2, 64}, false, false};
  check_cudnn_attention(attention, c, DType::bf16, 0.125f, seed);
  EXPECT_EQ(attention.cached_plans(), 1u);
  check_cudnn_attention(attention, c, DType::bf16, 0.4f, seed + 10);  // same plan, another scale
  EXPECT_EQ(attention.cached_plans(), 1u);
  check_cudnn_attention(attention, {{1, 65, 65, 2, 2, 64}, true, false}, DType::bf16, 0.125f, seed);
  EXPECT_EQ(attention.cached_plans(), 2u);
}

// With room for two plans, a third shape drops the least recently used one (after its runs finished); the
// dropped shape is compiled again and still right.
TEST(CudnnAttention, KeepsTheMostRecentlyUsedPlans) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::CudnnAttention attention(nullptr, 2);
  const CudnnCase a{{1, 65, 65, 2, 2, 64}, false, false}, b{{1, 33, 65, 2, 2, 64}, false, false},
      c{{2, 65, 65, 2, 2, 64}, false, true};
  check_cudnn_attention(attention, a, DType::bf16, 0.125f, seed);
  check_cudnn_attention(attention, b, DType::bf16, 0.125f, seed + 1);
  check_cudnn_attention(attention, c, DType::bf16, 0.125f, seed + 2);  // drops a
  EXPECT_EQ(attention.cached_plans(), 2u);
  check_cudnn_attention(attention, a, DType::bf16, 0.125f, seed + 3);  // compiled again, drops b
  EXPECT_EQ(attention.cached_plans(), 2u);
}

TEST(CudnnAttention, RefusesWhatItCannotDo) {
  VRAMKIT_REQUIRE_CUDA();
  cuda::CudnnAttention attention;
  const auto refusal = [&](DType dt, const ops::cpu::AttentionDims& d, bool mask, bool causal) {
    std::string reason;
    EXPECT_FALSE(attention.supports(dt, d, mask, causal, &reason));
    return reason;
  };
  EXPECT_NE(refusal(DType::f32, {1, 8, 8, 2, 2, 64}, false, false).find("dtype f32"), std::string::npos);
  EXPECT_NE(refusal(DType::bf16, {1, 8, 8, 2, 2, 60}, false, false).find("head_dim 60"), std::string::npos);
  EXPECT_NE(refusal(DType::bf16, {1, 8, 8, 2, 2, 256}, false, false).find("head_dim 256"), std::string::npos);
  EXPECT_NE(refusal(DType::bf16, {1, 8, 8, 3, 2, 64}, false, false).find("multiple of key/value heads"),
            std::string::npos);
  EXPECT_NE(refusal(DType::bf16, {1, 0, 8, 2, 2, 64}, false, false).find("empty"), std::string::npos);
  EXPECT_NE(refusal(DType::bf16, {1, 8, 16, 2, 2, 64}, true, true).find("bottom-right"), std::string::npos);
  EXPECT_EQ(attention.cached_plans(), 0u);
  test::expect_error<ArgumentError>(
      [&] {
        attention.run(nullptr, nullptr, nullptr, nullptr, DType::f32, {1, 8, 8, 2, 2, 64}, nullptr, false,
                      1.0f, nullptr);
      },
      {"cudnn attention", "not supported", "dtype f32"});
  // A supported shape with a misaligned pointer.
  const ops::cpu::AttentionDims d{1, 8, 8, 2, 2, 64};
  std::string reason;
  ASSERT_TRUE(attention.supports(DType::bf16, d, false, false, &reason)) << reason;
  const cuda::DeviceBuffer buffer(4096);
  char* base = static_cast<char*>(buffer.data());
  test::expect_error<ArgumentError>(
      [&] { attention.run(base + 2, base, base, base, DType::bf16, d, nullptr, false, 1.0f, nullptr); },
      {"cudnn attention", "q is not 16-byte aligned"});
}

// The helper kernels alone, exactly: the bias and first valid key of the three mask patterns, then the zeros
// of exactly the empty rows (causal with Lq > Lk and the padded batch elements).
TEST(CudnnAttentionMasks, BiasFirstValidKeyAndEmptyRows) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  const std::int64_t batch = 3, kv_len = 301;
  const std::vector<float> valid = key_mask_values(batch, kv_len, seed);
  const Tensor mask = Tensor::from_floats({batch, kv_len}, valid).to(DType::u8);
  const cuda::DeviceBuffer dmask = test::to_device(mask), bias = test::poisoned(batch * kv_len * 2),
                           first = test::poisoned(batch * 4);
  auto* first_valid = static_cast<std::int32_t*>(first.data());
  cuda::launch_key_padding_bias(static_cast<const std::uint8_t*>(dmask.data()), bias.data(), first_valid,
                                DType::bf16, batch, kv_len, nullptr);
  const std::vector<float> got_bias = test::from_device(bias, {batch, kv_len}, DType::bf16).to_floats();
  std::vector<std::int32_t> got_first(batch);
  VRAMKIT_CUDA_CHECK(cudaMemcpy(got_first.data(), first_valid, batch * 4, cudaMemcpyDeviceToHost));
  std::vector<std::int32_t> want_first(batch, static_cast<std::int32_t>(kv_len));
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t j = kv_len - 1; j >= 0; --j) {
      const auto i = static_cast<std::size_t>(b * kv_len + j);
      if (valid[i] != 0.0f) want_first[b] = static_cast<std::int32_t>(j);
      EXPECT_EQ(got_bias[i], valid[i] != 0.0f ? 0.0f : cuda::kMaskedKeyBias)
          << "bias of batch " << b << " key " << j;
    }
  EXPECT_EQ(got_first, want_first);

  // out [3, 400, 2, 8] of ones; causal with Lq 400 > Lk 301: rows i with first > i + 301 - 400 are empty.
  const ops::cpu::AttentionDims d{batch, 400, kv_len, 2, 2, 8};
  const Tensor ones =
      Tensor::from_floats({batch, 400, 2, 8}, std::vector<float>(batch * 400 * 16, 1.0f)).to(DType::f16);
  const cuda::DeviceBuffer out = test::to_device(ones);
  cuda::launch_zero_empty_attention_rows(out.data(), DType::f16, d, first_valid, true, nullptr);
  const std::vector<float> got = test::from_device(out, ones.shape(), DType::f16).to_floats();
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t i = 0; i < 400; ++i) {
      const float want = want_first[b] > i + kv_len - 400 ? 0.0f : 1.0f;
      for (std::int64_t e = 0; e < 16; ++e)
        ASSERT_EQ(got[static_cast<std::size_t>((b * 400 + i) * 16 + e)], want)
            << "batch " << b << " row " << i;
    }
}

TEST(CudnnAttentionMasks, RejectsBadArguments) {
  test::expect_error<DTypeError>(
      [] { cuda::launch_key_padding_bias(nullptr, nullptr, nullptr, DType::f32, 1, 4, nullptr); },
      {"cuda key padding bias", "dtype f32"});
  test::expect_error<ArgumentError>(
      [] { cuda::launch_key_padding_bias(nullptr, nullptr, nullptr, DType::bf16, 0, 4, nullptr); },
      {"cuda key padding bias", "batch 0"});
  test::expect_error<DTypeError>(
      [] {
        cuda::launch_zero_empty_attention_rows(nullptr, DType::f32, {1, 1, 1, 1, 1, 8}, nullptr, false,
                                               nullptr);
      },
      {"cuda attention empty rows", "dtype f32"});
}

}  // namespace
}  // namespace vramkit
