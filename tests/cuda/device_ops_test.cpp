// The public ops::* on CUDA tensors, which dispatch to cuda::CudaDeviceOps through the CudaAccelerator,
// against the same ops on the CPU, on fresh random inputs (the seed is printed with every failure). Inputs
// go to the device with ops::to_device (views such as transposes are taken on the device tensors, so the
// strided paths run there), results come back with ops::to_host. Each test states its tolerance; they follow
// the launcher tests (tests/cuda/*_cuda_test.cpp), so a failure here and not there points at the wiring in
// ops/cuda/cuda_device_ops.cpp (layouts, conversions, broadcasting, blocking), not at a kernel.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "backends/cuda/cuda_accelerator.h"
#include "backends/cuda/cuda_check.h"
#include "cuda_op_test_util.h"
#include "cuda_test_util.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/cuda/cuda_device_ops.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/layout.h"
#include "ops/linear.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/op_test_util.h"
#include "ops/placement.h"
#include "ops/rope.h"
#include "ops/upsample.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

constexpr std::size_t kArenaBytes = std::size_t{2} << 30;

std::string name(DType dt) {
  return std::string(dtype_name(dt));
}

Tensor absolute(const Tensor& t) {
  std::vector<float> v = t.to_floats();
  for (float& f : v) f = std::fabs(f);
  return Tensor::from_floats(t.shape(), v);
}

// Products summed in f32 in another order and split: ulp_rtol(dtype)·|want| per output element (both round
// the f32 sum to the output dtype) + 1e-5·Σ|terms| (`magnitude`: the same product of the absolute values).
std::vector<double> sum_tolerance(const Tensor& want, const Tensor& magnitude, double extra_rtol = 0) {
  const std::vector<float> w = want.to_floats(), m = magnitude.to_floats();
  std::vector<double> tol(w.size());
  for (std::size_t i = 0; i < w.size(); ++i)
    tol[i] = test::ulp_rtol(want.dtype()) * std::fabs(w[i]) + (1e-5 + extra_rtol) * m[i];
  return tol;
}

// x on the device `offset` elements into a larger buffer: a contiguous view that is not 16-byte aligned.
Tensor cuda_at_offset(const Tensor& x, std::int64_t offset) {
  Tensor flat = Tensor::zeros({x.numel() + offset}, x.dtype());
  flat.slice(0, offset, offset + x.numel()).reshape(x.shape()).copy_from(x);
  return ops::to_device(flat, Device::cuda(0)).slice(0, offset, offset + x.numel()).reshape(x.shape());
}

class CudaDeviceOps : public ::testing::Test {
 protected:
  void SetUp() override {
    VRAMKIT_REQUIRE_CUDA();
    accelerator_ = std::make_unique<CudaAccelerator>(0, kArenaBytes);
  }

  static Tensor cuda(const Tensor& t) { return t.defined() ? ops::to_device(t, Device::cuda(0)) : Tensor(); }
  // The result, checked to live on the device, brought back.
  static Tensor host(const Tensor& t) {
    EXPECT_EQ(t.device(), Device::cuda(0)) << t.str();
    return ops::to_host(t);
  }

  const std::uint32_t seed_ = test::fresh_seed();
  std::unique_ptr<CudaAccelerator> accelerator_;
};

// ---- linear and matmul: tolerance sum_tolerance (above), and with a bias one unit of the product before it
// (with_product_rounding) ----

TEST_F(CudaDeviceOps, LinearMatchesTheCpu) {
  SCOPED_TRACE(test::seed_trace(seed_));
  for (DType dt : {DType::f32, DType::bf16}) {
    for (bool with_bias : {false, true}) {
      const Tensor x = test::random_tensor({3, 7, 96}, dt, seed_);
      const Tensor w = test::random_tensor({80, 96}, dt, seed_ + 1, -0.5f, 0.5f);
      const Tensor bias = with_bias ? test::random_tensor({80}, dt, seed_ + 2) : Tensor();
      const Tensor want = ops::linear(x, w, bias);
      const Tensor got = host(ops::linear(cuda(x), cuda(w), cuda(bias)));
      std::vector<double> tol = sum_tolerance(want, ops::linear(absolute(x), absolute(w)));
      if (with_bias) tol = test::with_product_rounding(tol, ops::linear(x, w));
      EXPECT_TRUE(test::close_to(got, want, tol, "linear " + x.str() + (with_bias ? " + bias" : "")));
    }
  }
}

// x transposed (copied contiguous on the device), x at an odd element offset (copied to an aligned buffer), a
// weight of another dtype and an f32 bias for a bf16 x (both converted to x's dtype on the device).
TEST_F(CudaDeviceOps, LinearOfViewsAndMixedDtypes) {
  SCOPED_TRACE(test::seed_trace(seed_));
  const Tensor xt = test::random_tensor({64, 21}, DType::bf16, seed_);
  const Tensor w = test::random_tensor({40, 64}, DType::f32, seed_ + 1, -0.5f, 0.5f);
  const Tensor bias = test::random_tensor({40}, DType::f32, seed_ + 2);
  const Tensor x = xt.transpose(0, 1);
  // The device rounds the f32 weight and bias to bf16 first: 2^-8 of every term and of the bias more.
  const Tensor want = ops::linear(x, w, bias);
  const std::vector<double> tol = test::with_product_rounding(
      sum_tolerance(want, ops::add(ops::linear(absolute(x), absolute(w)), absolute(bias)), 1.0 / 256),
      ops::linear(x, w));
  EXPECT_TRUE(test::close_to(host(ops::linear(cuda(xt).transpose(0, 1), cuda(w), cuda(bias))), want, tol,
                             "linear of a transposed x, f32 weight and bias"));
  const Tensor xc = x.contiguous();
  EXPECT_TRUE(test::close_to(host(ops::linear(cuda_at_offset(xc, 3), cuda(w), cuda(bias))), want, tol,
                             "linear of an x 6 bytes past an aligned address"));
}

// fp8 weights with per-channel scales, decoded to bf16 on the device (launch_dequantize_rows) before the
// GEMM; the CPU applies the scales in f32 without rounding the weight: extra 2^-8·Σ|x·w_real|.
TEST_F(CudaDeviceOps, LinearOfFp8WeightsWithScales) {
  SCOPED_TRACE(test::seed_trace(seed_));
  for (DType fp8 : {DType::f8_e4m3fn, DType::f8_e5m2}) {
    const Tensor x = test::random_tensor({45, 320}, DType::bf16, seed_);
    const Tensor w = test::random_tensor({136, 320}, fp8, seed_ + 1, -200.0f, 200.0f);
    const Tensor scale = test::random_tensor({136}, DType::f32, seed_ + 2, 1e-3f, 4e-3f);
    const Tensor bias = test::random_tensor({136}, DType::bf16, seed_ + 3);
    const Tensor want = ops::linear(x, w, bias, scale);
    const Tensor got = host(ops::linear(cuda(x), cuda(w), cuda(bias), cuda(scale)));
    const std::vector<double> tol = test::with_product_rounding(
        sum_tolerance(want, ops::linear(absolute(x), absolute(w), Tensor(), scale), 1.0 / 256),
        ops::linear(x, w, Tensor(), scale));
    EXPECT_TRUE(
        test::close_to(got, want, tol, std::string("linear with ") + name(fp8) + " weight and scales"));
  }
}

// b shared by the batch (stride 0 in the GEMM, batch folded into rows), b broadcast over a leading batch
// dimension (materialized), a transposed b view and a b of another dtype.
TEST_F(CudaDeviceOps, MatmulBroadcastsTheBatch) {
  SCOPED_TRACE(test::seed_trace(seed_));
  for (DType dt : {DType::f32, DType::bf16}) {
    const Tensor a = test::random_tensor({2, 3, 17, 24}, dt, seed_);
    const Tensor shared = test::random_tensor({24, 19}, dt, seed_ + 1);
    const Tensor per_head = test::random_tensor({3, 24, 19}, dt, seed_ + 2);
    const Tensor stored_t = test::random_tensor({2, 3, 19, 24}, dt, seed_ + 3);
    const Tensor a_one = test::random_tensor({1, 3, 17, 24}, dt, seed_ + 4);
    const Tensor full = test::random_tensor({2, 3, 24, 19}, dt, seed_ + 5);
    auto check = [&](const Tensor& ha, const Tensor& hb, const Tensor& da, const Tensor& db,
                     const std::string& what) {
      const Tensor want = ops::matmul(ha, hb);
      EXPECT_TRUE(test::close_to(host(ops::matmul(da, db)), want,
                                 sum_tolerance(want, ops::matmul(absolute(ha), absolute(hb))),
                                 name(dt) + " matmul, " + what));
    };
    check(a, shared, cuda(a), cuda(shared), "2-D b shared by the batch");
    check(a, per_head, cuda(a), cuda(per_head), "b [3, K, N] broadcast over a's first dimension");
    check(a, stored_t.transpose(-1, -2), cuda(a), cuda(stored_t).transpose(-1, -2), "b a transposed view");
    check(a_one, full, cuda(a_one), cuda(full), "a [1, 3, M, K] broadcast over b's batch");
  }
  const Tensor a = test::random_tensor({5, 24}, DType::bf16, seed_);
  const Tensor b = test::random_tensor({24, 9}, DType::f32, seed_ + 1);
  const Tensor want = ops::matmul(a, b);
  EXPECT_TRUE(test::close_to(host(ops::matmul(cuda(a), cuda(b))), want,
                             sum_tolerance(want, ops::matmul(absolute(a), absolute(b)), 1.0 / 256),
                             "bf16 a times f32 b (b rounded to bf16 on the device)"));
}

// ---- element-wise ops: activations within activation_rtol (libm-class functions, ~1-2 f32 ulps); the
// arithmetic (add, mul, scale, clamp, modulate, gated residual) exact, as the launcher tests require ----

double activation_rtol(DType dt) {
  return dt == DType::f32 ? 1e-5 : test::ulp_rtol(dt);
}

TEST_F(CudaDeviceOps, ActivationsMatchTheCpu) {
  SCOPED_TRACE(test::seed_trace(seed_));
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    const Tensor stored = test::random_tensor({4, 33, 5}, dt, seed_, -6.0f, 6.0f);
    const Tensor x = stored.transpose(1, 2);  // [4, 5, 33], strided
    const Tensor dx = cuda(stored).transpose(1, 2);
    const std::string what = name(dt) + " of a transposed view";
    for (auto approx : {ops::GeluApproximation::none, ops::GeluApproximation::tanh})
      EXPECT_TRUE(test::close_to(host(ops::gelu(dx, approx)), ops::gelu(x, approx), 1e-6, activation_rtol(dt),
                                 "gelu " + what));
    EXPECT_TRUE(test::close_to(host(ops::silu(dx)), ops::silu(x), 1e-6, activation_rtol(dt), "silu " + what));
    // In place over a contiguous copy: the bits of the GPU's gelu, element by element (660 values) and by
    // packs of 8 (rows of 64).
    for (const Tensor& t : {stored, test::random_tensor({6, 64}, dt, seed_ + 3, -6.0f, 6.0f)}) {
      const Tensor in_place = cuda(t);
      ops::gelu_in_place(in_place, ops::GeluApproximation::tanh);
      EXPECT_EQ(test::values(host(in_place)),
                test::values(host(ops::gelu(cuda(t), ops::GeluApproximation::tanh))))
          << "gelu in place, " << name(dt) << " " << t.str();
    }
    const Tensor up = test::random_tensor({5, 33}, dt, seed_ + 1);
    EXPECT_TRUE(test::close_to(host(ops::swiglu(dx, cuda(up))), ops::swiglu(x, up), 1e-6, activation_rtol(dt),
                               "swiglu with a broadcast up, " + what));
    const Tensor gate_up = test::random_tensor({6, 2 * 40}, dt, seed_ + 2, -6.0f, 6.0f);
    EXPECT_TRUE(test::close_to(host(ops::swiglu(cuda(gate_up))), ops::swiglu(gate_up), 1e-6,
                               activation_rtol(dt), "fused swiglu " + gate_up.str()));
  }
}

TEST_F(CudaDeviceOps, ArithmeticBroadcastsExactly) {
  SCOPED_TRACE(test::seed_trace(seed_));
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    const Tensor x = test::random_tensor({2, 9, 48}, dt, seed_);
    const Tensor row = test::random_tensor({48}, dt, seed_ + 1);
    const Tensor mod = test::random_tensor({2, 1, 48}, dt, seed_ + 2);
    const Tensor stored_t = test::random_tensor({2, 48, 9}, dt, seed_ + 3);
    const Tensor yt = stored_t.transpose(1, 2);
    const Tensor dx = cuda(x), drow = cuda(row), dmod = cuda(mod), dyt = cuda(stored_t).transpose(1, 2);
    const std::string d = name(dt);
    EXPECT_TRUE(test::same_values(host(ops::add(dx, drow)), ops::add(x, row), d + " add of a [48] row"));
    EXPECT_TRUE(
        test::same_values(host(ops::mul(dx, dmod)), ops::mul(x, mod), d + " mul by a [2, 1, 48] mod"));
    EXPECT_TRUE(test::same_values(host(ops::add(dyt, dx)), ops::add(yt, x), d + " add of a transposed view"));
    EXPECT_TRUE(test::same_values(host(ops::scale(dyt, 0.37)), ops::scale(yt, 0.37), d + " scale"));
    EXPECT_TRUE(test::same_values(host(ops::clamp(dx, -0.25, 0.5)), ops::clamp(x, -0.25, 0.5), d + " clamp"));
    EXPECT_TRUE(
        test::same_values(host(ops::modulate(dx, dmod, drow)), ops::modulate(x, mod, row), d + " modulate"));
    EXPECT_TRUE(test::same_values(host(ops::gated_residual(dx, dmod, dyt)), ops::gated_residual(x, mod, yt),
                                  d + " gated residual with a transposed y"));
  }
  const Tensor a = test::random_tensor({3, 16}, DType::bf16, seed_);
  const Tensor b = test::random_tensor({3, 16}, DType::f32, seed_ + 1);
  EXPECT_TRUE(test::same_values(host(ops::add(cuda(a), cuda(b))), ops::add(a, b), "bf16 + f32 gives bf16"));
}

// ---- normalizations: 1e-5 + rtol(dt)·|want| (f32 statistics in another order), as tests/cuda/norm ----

double norm_rtol(DType dt) {
  return dt == DType::f32 ? 1e-5 : test::ulp_rtol(dt);
}

TEST_F(CudaDeviceOps, NormsMatchTheCpu) {
  SCOPED_TRACE(test::seed_trace(seed_));
  for (DType dt : {DType::f32, DType::bf16}) {
    const std::string d = name(dt);
    const Tensor x = test::random_tensor({3, 5, 200}, dt, seed_, -3.0f, 3.0f);
    const Tensor w = test::random_tensor({200}, DType::f32, seed_ + 1);
    const Tensor b = test::random_tensor({200}, dt, seed_ + 2);
    EXPECT_TRUE(test::close_to(host(ops::layer_norm(cuda(x), cuda(w), cuda(b), 1e-6)),
                               ops::layer_norm(x, w, b, 1e-6), 1e-5, norm_rtol(dt),
                               d + " layer_norm with weight and bias"));
    EXPECT_TRUE(test::close_to(host(ops::layer_norm(cuda(x), Tensor(), Tensor(), 1e-6)),
                               ops::layer_norm(x, Tensor(), Tensor(), 1e-6), 1e-5, norm_rtol(dt),
                               d + " layer_norm without affine"));
    // Per-head RMS norm of a [B, L, H, D] view taken from a [B, H, L, D] buffer.
    const Tensor heads = test::random_tensor({2, 4, 7, 64}, dt, seed_ + 3, -3.0f, 3.0f);
    const Tensor hw = test::random_tensor({64}, dt, seed_ + 4);
    EXPECT_TRUE(test::close_to(host(ops::rms_norm(cuda(heads).transpose(1, 2), cuda(hw), 1e-6)),
                               ops::rms_norm(heads.transpose(1, 2), hw, 1e-6), 1e-5, norm_rtol(dt),
                               d + " per-head rms_norm of a transposed view"));
    const Tensor vx = test::random_tensor({2, 16, 1, 5, 6}, dt, seed_ + 5, -3.0f, 3.0f);
    const Tensor gamma = test::random_tensor({16, 1, 1, 1}, dt, seed_ + 6);
    const Tensor vb = test::random_tensor({16, 1, 1, 1}, dt, seed_ + 7);
    EXPECT_TRUE(test::close_to(host(ops::channel_rms_norm(cuda(vx), cuda(gamma), cuda(vb))),
                               ops::channel_rms_norm(vx, gamma, vb), 1e-5, norm_rtol(dt),
                               d + " channel_rms_norm [B, C, T, H, W]"));
  }
}

// The fused norm and modulation: the bits of the two CUDA ops (the same row statistics, the same rounding
// between them), with the modulation rows of a [B, 6·D] table as the DiT passes them, one row for the batch,
// rows of 16, 32 and 256 threads, and shapes the kernel does not take (the two ops run then); close to the
// CPU. The GPU's f32 row statistics (the CPU's are f64) may round a normed value to the neighbouring code
// before the modulation scales it by up to 2 and the shift cancels much of the sum: the bound is one
// rounding of the normed value times |1 + scale|, plus one of the result.
TEST_F(CudaDeviceOps, LayerNormModulateIsTheTwoOps) {
  SCOPED_TRACE(test::seed_trace(seed_));
  for (DType dt : {DType::f32, DType::bf16, DType::f16})
    for (const std::int64_t d : {128, 1024, 3072, 100})
      for (const std::int64_t table_rows : {2, 1}) {
        const std::string what =
            name(dt) + " D " + std::to_string(d) + ", " + std::to_string(table_rows) + " modulation row(s)";
        const Tensor x = test::random_tensor({2, 37, d}, dt, seed_, -3.0f, 3.0f);
        const Tensor table = test::random_tensor({table_rows, 6 * d}, dt, seed_ + 1);
        const Tensor dx = cuda(x), dtable = cuda(table);
        const Tensor shift = dtable.slice(1, 0, d).unsqueeze(1),
                     scale = dtable.slice(1, d, 2 * d).unsqueeze(1);
        const Tensor fused = host(ops::layer_norm_modulate(dx, shift, scale, 1e-6));
        const Tensor two_ops =
            host(ops::modulate(ops::layer_norm(dx, Tensor(), Tensor(), 1e-6), shift, scale));
        EXPECT_TRUE(test::same_values(fused, two_ops, what));
        const Tensor hshift = table.slice(1, 0, d).unsqueeze(1),
                     hscale = table.slice(1, d, 2 * d).unsqueeze(1);
        const std::vector<double> got = test::values(fused),
                                  want = test::values(ops::layer_norm_modulate(x, hshift, hscale, 1e-6)),
                                  normed = test::values(ops::layer_norm(x, Tensor(), Tensor(), 1e-6)),
                                  rows = test::values(table);
        int outside = 0;
        for (std::size_t i = 0; i < got.size(); ++i) {
          const std::size_t row = table_rows == 1 ? 0 : i / static_cast<std::size_t>(37 * d);
          const double s = rows[row * static_cast<std::size_t>(6 * d) + static_cast<std::size_t>(d) +
                                i % static_cast<std::size_t>(d)];
          const double bound =
              1e-5 + 2 * norm_rtol(dt) * (std::abs(normed[i]) * std::abs(1 + s) + std::abs(want[i]));
          if (std::abs(got[i] - want[i]) > bound && outside++ < 3)
            ADD_FAILURE() << what << " against the CPU: element " << i << " is " << got[i] << ", want "
                          << want[i] << " within " << bound;
        }
        EXPECT_EQ(outside, 0) << what;
      }
}

// ---- rope: f32 rotation rounded once, as the CPU: 1e-6 + one ulp of the dtype ----

TEST_F(CudaDeviceOps, RopeMatchesTheCpu) {
  SCOPED_TRACE(test::seed_trace(seed_));
  const ops::QwenImageRope qwen = ops::qwen_image_rope(1, 4, 6, 5);
  std::vector<float> pos(48);
  for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<float>(i % 24 + 3 * (i / 24));
  const ops::RopeTable text = ops::rope_1d(Tensor::from_floats({2, 24}, pos).to(DType::i64), 128, 1e6);
  for (DType dt : {DType::f32, DType::bf16}) {
    const Tensor x = test::random_tensor({2, 24, 3, 128}, dt, seed_);
    const ops::RopeTable image{qwen.image.style, cuda(qwen.image.cos), cuda(qwen.image.sin)};
    const ops::RopeTable per_batch{text.style, cuda(text.cos), cuda(text.sin)};
    EXPECT_TRUE(test::close_to(host(ops::apply_rope(cuda(x), image)), ops::apply_rope(x, qwen.image), 1e-6,
                               test::ulp_rtol(dt), name(dt) + " interleaved, shared table"));
    EXPECT_TRUE(test::close_to(host(ops::apply_rope(cuda(x), per_batch)), ops::apply_rope(x, text), 1e-6,
                               test::ulp_rtol(dt), name(dt) + " rotate_half, per-batch table"));
  }
}

// ---- embedding: bit copies; an id out of range is the CPU's ArgumentError ----

TEST_F(CudaDeviceOps, EmbeddingCopiesRows) {
  SCOPED_TRACE(test::seed_trace(seed_));
  const Tensor table = test::random_tensor({50, 24}, DType::bf16, seed_);
  const Tensor ids = Tensor::from_floats({3, 4}, std::vector<float>{0, 49, 7, 7, 13, 2, 1, 48, 30, 31, 0, 5});
  for (DType id_dtype : {DType::i32, DType::i64}) {
    const Tensor i = ids.to(id_dtype);
    EXPECT_TRUE(test::same_values(host(ops::embedding(cuda(i), cuda(table))), ops::embedding(i, table),
                                  std::string("embedding with ") + name(id_dtype) + " ids"));
  }
  // A column slice of the table: rows at a pitch larger than their width.
  const Tensor wide = test::random_tensor({50, 40}, DType::f32, seed_ + 1);
  const Tensor i64 = ids.to(DType::i64);
  EXPECT_TRUE(test::same_values(host(ops::embedding(cuda(i64), cuda(wide).slice(1, 8, 32))),
                                ops::embedding(i64, wide.slice(1, 8, 32)), "embedding from a column slice"));
}

TEST_F(CudaDeviceOps, EmbeddingRejectsAnIdOutOfRange) {
  const Tensor table = test::random_tensor({50, 8}, DType::f32, seed_);
  const Tensor ids = Tensor::from_floats({6}, std::vector<float>{0, 3, 4, 9, 50, 51}).to(DType::i32);
  test::expect_error<ArgumentError>([&] { ops::embedding(cuda(ids), cuda(table)); },
                                    {"embedding", "index 50", "element 4", "[0, 50)"});
  const Tensor negative = Tensor::from_floats({2}, std::vector<float>{-1, 2}).to(DType::i64);
  test::expect_error<ArgumentError>([&] { ops::embedding(cuda(negative), cuda(table)); },
                                    {"index -1", "element 0"});
}

// ---- attention: tolerances of tests/cuda/attention_cuda_test.cpp: ulp_rtol·|want| plus 2^-8 (bf16) / 2^-11
// (f16) for the fused kernel's rounded probabilities; for the f32 GEMM path kGemmAttentionAtol (f32
// throughout in another summation order, the cuda_cores kernel's 1e-5, doubled). Visible values lie in
// [-1, 1]; padded keys hold 50 in v, so a mask that leaks moves an output by about 50 / Lk, far above these.
// ----

constexpr double kGemmAttentionAtol = 2e-5;

// k, v [B, Lk, H, D] whose padded keys (mask 0) hold 50 in v; v_unmasked, the same v without the 50s, for
// the cases without a mask (so every tolerance keeps max|v| = 1).
struct Keys {
  Tensor k, v, mask, v_unmasked;
};
Keys padded_keys(std::int64_t batch, std::int64_t kv_len, std::int64_t heads, std::int64_t head_dim, DType dt,
                 DType mask_dtype, std::uint32_t seed) {
  Keys keys{test::random_tensor({batch, kv_len, heads, head_dim}, dt, seed), Tensor(), Tensor(),
            test::random_tensor({batch, kv_len, heads, head_dim}, dt, seed + 1)};
  std::vector<float> v = keys.v_unmasked.to_floats();
  std::vector<float> mask(static_cast<std::size_t>(batch * kv_len), 1.0f);
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t j = 0; j < kv_len; ++j) {
      // batch 0: left padding of 3 keys; the last batch element: every third key padded
      const bool padded = (b == 0 && j < 3) || (b == batch - 1 && b > 0 && j % 3 == 1);
      if (!padded) continue;
      mask[static_cast<std::size_t>(b * kv_len + j)] = 0.0f;
      for (std::int64_t i = 0; i < heads * head_dim; ++i)
        v[static_cast<std::size_t>((b * kv_len + j) * heads * head_dim + i)] = 50.0f;
    }
  keys.v = Tensor::from_floats({batch, kv_len, heads, head_dim}, v).to(dt);
  keys.mask = Tensor::from_floats({batch, kv_len}, mask).to(mask_dtype);
  return keys;
}

void check_attention(const Tensor& q, const Keys& keys, bool with_mask, bool causal, double atol,
                     const std::string& what) {
  ops::AttentionOptions cpu_options{causal, with_mask ? keys.mask : Tensor(), std::nullopt};
  ops::AttentionOptions cuda_options{
      causal, with_mask ? ops::to_device(keys.mask, Device::cuda(0)) : Tensor(), std::nullopt};
  const Tensor& v = with_mask ? keys.v : keys.v_unmasked;
  const Tensor want = ops::attention(q, keys.k, v, cpu_options);
  const Tensor got =
      ops::to_host(ops::attention(ops::to_device(q, Device::cuda(0)), ops::to_device(keys.k, Device::cuda(0)),
                                  ops::to_device(v, Device::cuda(0)), cuda_options));
  EXPECT_TRUE(test::close_to(got, want, atol, test::ulp_rtol(q.dtype()),
                             what + (with_mask ? ", key mask" : "") + (causal ? ", causal" : "")));
}

TEST_F(CudaDeviceOps, FusedAttentionMatchesTheCpu) {
  SCOPED_TRACE(test::seed_trace(seed_));
  for (DType dt : {DType::bf16, DType::f16}) {
    const double atol = dt == DType::bf16 ? 1.0 / 256 : 1.0 / 2048;
    for (std::int64_t head_dim : {64, 128}) {
      const Tensor q = test::random_tensor({2, 37, 4, head_dim}, dt, seed_);
      const Keys keys = padded_keys(2, 45, 2, head_dim, dt, DType::boolean, seed_ + 1);  // grouped-query
      const std::string what = name(dt) + " head_dim " + std::to_string(head_dim);
      for (bool mask : {false, true})
        for (bool causal : {false, true}) check_attention(q, keys, mask, causal, atol, what);
    }
  }
}

// Key lengths (the DiT's text padding, last in each sequence): bf16 / f16 run each sequence through cuDNN's
// unmasked kernel over its valid keys, f32 through the GEMM path with the lengths as a mask; a sequence with
// no key gives zeros. The padded keys hold 50 in v, as in padded_keys. Against the CPU.
TEST_F(CudaDeviceOps, AttentionWithKeyLengthsMatchesTheCpu) {
  SCOPED_TRACE(test::seed_trace(seed_));
  const std::vector<std::int64_t> lengths{45, 30, 0};
  for (DType dt : {DType::bf16, DType::f16, DType::f32}) {
    const double atol = dt == DType::bf16 ? 1.0 / 256 : dt == DType::f16 ? 1.0 / 2048 : kGemmAttentionAtol;
    const Tensor q = test::random_tensor({3, 37, 4, 128}, dt, seed_);
    const Tensor k = test::random_tensor({3, 45, 2, 128}, dt, seed_ + 1);
    std::vector<float> v = test::random_tensor({3, 45, 2, 128}, dt, seed_ + 2).to_floats();
    for (std::size_t b = 0; b < lengths.size(); ++b)
      for (std::int64_t j = lengths[b]; j < 45; ++j)
        for (std::size_t i = 0; i < 256; ++i) v[(b * 45 + static_cast<std::size_t>(j)) * 256 + i] = 50.0f;
    const Tensor vt = Tensor::from_floats({3, 45, 2, 128}, v).to(dt);
    ops::AttentionOptions options;
    options.key_lengths = lengths;
    const Tensor want = ops::attention(q, k, vt, options);
    const Tensor got = host(ops::attention(cuda(q), cuda(k), cuda(vt), options));
    EXPECT_TRUE(test::close_to(got, want, atol, test::ulp_rtol(dt), name(dt) + " key lengths 45, 30, 0"));
    for (const float x : got.slice(0, 2, 3).to_floats()) ASSERT_EQ(x, 0.0f) << "a sequence without keys";
  }
}

// f32 (any head_dim) and head dims the fused kernel does not take go through S = q·kᵀ, the masks, softmax,
// P·V per head in f32; bf16 outputs round once at the end.
TEST_F(CudaDeviceOps, GemmAttentionMatchesTheCpu) {
  SCOPED_TRACE(test::seed_trace(seed_));
  {
    const Tensor q = test::random_tensor({2, 33, 6, 48}, DType::f32, seed_);
    const Keys keys = padded_keys(2, 40, 3, 48, DType::f32, DType::i64, seed_ + 1);
    for (bool mask : {false, true})
      for (bool causal : {false, true})
        check_attention(q, keys, mask, causal, kGemmAttentionAtol, "f32 head_dim 48, GQA");
    // Lq > Lk with causal: the first query rows see no key and give zeros.
    const Tensor long_q = test::random_tensor({2, 47, 6, 48}, DType::f32, seed_ + 2);
    check_attention(long_q, keys, true, true, kGemmAttentionAtol, "f32, Lq > Lk");
  }
  // The VAE's mid-block attention: one 384-wide head, B = 1.
  for (DType dt : {DType::f32, DType::bf16}) {
    const Tensor q = test::random_tensor({1, 300, 1, 384}, dt, seed_ + 3);
    const Keys keys = padded_keys(1, 300, 1, 384, dt, DType::u8, seed_ + 4);
    for (bool causal : {false, true})
      check_attention(q, keys, true, causal, kGemmAttentionAtol, name(dt) + " head_dim 384, B = 1, H = 1");
  }
  // q as a view: [B, H, L, D] storage transposed to [B, L, H, D].
  const Tensor stored = test::random_tensor({1, 2, 20, 40}, DType::f32, seed_ + 5);
  const Keys keys = padded_keys(1, 25, 2, 40, DType::f32, DType::i32, seed_ + 6);
  ops::AttentionOptions options{false, Tensor(), 0.3f};
  const Tensor want = ops::attention(stored.transpose(1, 2), keys.k, keys.v_unmasked, options);
  const Tensor got =
      host(ops::attention(cuda(stored).transpose(1, 2), cuda(keys.k), cuda(keys.v_unmasked), options));
  EXPECT_TRUE(
      test::close_to(got, want, kGemmAttentionAtol, 1e-6, "f32 attention of a transposed q, scale 0.3"));
}

// ---- conv2d: im2col + GEMM onto the pre-loaded bias; sum_tolerance with Σ|x·w| from the same conv of the
// absolute values, and with a bias one unit of the conv before it (with_product_rounding) ----

std::vector<double> conv_tolerance(const Tensor& x, const Tensor& w, const Tensor& bias,
                                   const ops::Conv2dParams& params, const Tensor& want) {
  const Tensor magnitude =
      ops::conv2d(absolute(x), absolute(w), bias.defined() ? absolute(bias) : Tensor(), params);
  const std::vector<double> tol = sum_tolerance(want, magnitude);
  return bias.defined() ? test::with_product_rounding(tol, ops::conv2d(x, w, Tensor(), params)) : tol;
}

void check_conv(const Tensor& x, const Tensor& w, const Tensor& bias, const ops::Conv2dParams& params,
                const std::string& what) {
  const Tensor want = ops::conv2d(x, w, bias, params);
  auto cuda = [](const Tensor& t) { return t.defined() ? ops::to_device(t, Device::cuda(0)) : Tensor(); };
  const Tensor got = ops::to_host(ops::conv2d(cuda(x), cuda(w), cuda(bias), params));
  EXPECT_TRUE(test::close_to(got, want, conv_tolerance(x, w, bias, params, want),
                             what + ": x " + x.str() + ", weight " + w.str()));
}

TEST_F(CudaDeviceOps, Conv2dMatchesTheCpu) {
  SCOPED_TRACE(test::seed_trace(seed_));
  for (DType dt : {DType::f32, DType::bf16}) {
    const std::string d = name(dt);
    const Tensor x = test::random_tensor({2, 8, 13, 11}, dt, seed_);
    const Tensor w3 = test::random_tensor({16, 8, 3, 3}, dt, seed_ + 1);
    const Tensor bias = test::random_tensor({16}, dt, seed_ + 2);
    check_conv(x, w3, bias, ops::Conv2dParams::symmetric(1, 1), d + " 3x3, padding 1");
    check_conv(x, w3, Tensor(), ops::Conv2dParams::symmetric(1, 1), d + " 3x3, padding 1, no bias");
    // The VAE's downsampling: stride 2 after zero padding of one row below and one column on the right.
    check_conv(x, w3, bias, ops::Conv2dParams{{2, 2}, {0, 1, 0, 1}},
               d + " 3x3, stride 2, padding (0, 1, 0, 1)");
    const Tensor w1 = test::random_tensor({5, 8, 1, 1}, dt, seed_ + 3);
    check_conv(x, w1, test::random_tensor({5}, dt, seed_ + 4), {}, d + " 1x1");
  }
  // A transposed x (made contiguous) and an f32 weight for a bf16 x (rounded to bf16 on the device: 2^-8 of
  // every term more, which the bf16 ulp of sum_tolerance does not cover; checked in f32 here instead).
  const Tensor stored = test::random_tensor({1, 8, 11, 13}, DType::f32, seed_ + 5);
  const Tensor w = test::random_tensor({4, 8, 3, 3}, DType::f32, seed_ + 6);
  const Tensor want = ops::conv2d(stored.transpose(2, 3), w, Tensor(), ops::Conv2dParams::symmetric(1, 1));
  const Tensor got =
      host(ops::conv2d(cuda(stored).transpose(2, 3), cuda(w), Tensor(), ops::Conv2dParams::symmetric(1, 1)));
  EXPECT_TRUE(test::close_to(got, want,
                             sum_tolerance(want, ops::conv2d(absolute(stored.transpose(2, 3)), absolute(w),
                                                             Tensor(), ops::Conv2dParams::symmetric(1, 1))),
                             "conv2d of a transposed x"));
}

// The blocks of query rows of the GEMM attention path and the pixel chunks of conv2d, forced by a
// CudaDeviceOps with a 4 KiB scratch bound, called directly (on the legacy default stream: the uploads on the
// compute stream are waited for first, the results before reading them back). Tolerances as above.
TEST_F(CudaDeviceOps, SmallScratchSplitsAttentionAndConv) {
  SCOPED_TRACE(test::seed_trace(seed_));
  vramkit::cuda::CudaDeviceOps small(0, nullptr, accelerator_->device_allocator(), 4096);
  // 4096 bytes hold 25 rows of 40 f32 scores: blocks of 25 and 15 query rows.
  const Tensor q = test::random_tensor({1, 40, 2, 24}, DType::f32, seed_);
  const Keys keys = padded_keys(1, 40, 2, 24, DType::f32, DType::i64, seed_ + 1);
  for (bool causal : {false, true}) {
    const Tensor dq = cuda(q), dk = cuda(keys.k), dv = cuda(keys.v), dmask = cuda(keys.mask);
    accelerator_->compute_stream().synchronize();
    const Tensor got = small.attention(dq, dk, dv, {causal, dmask, std::nullopt});
    VRAMKIT_CUDA_CHECK(cudaDeviceSynchronize());
    EXPECT_TRUE(test::close_to(
        host(got), ops::attention(q, keys.k, keys.v, {causal, keys.mask, std::nullopt}), kGemmAttentionAtol,
        1e-6, std::string("attention in blocks of 25 query rows") + (causal ? ", causal" : "")));
  }
  // 3x3 over 8 channels into 16 in bf16: 176 bytes per output pixel, 4096 bytes hold 23: chunks of 16.
  const Tensor x = test::random_tensor({2, 8, 13, 11}, DType::bf16, seed_ + 2);
  const Tensor w = test::random_tensor({16, 8, 3, 3}, DType::bf16, seed_ + 3);
  const Tensor bias = test::random_tensor({16}, DType::bf16, seed_ + 4);
  const ops::Conv2dParams params{{2, 1}, {1, 0, 2, 1}};
  const Tensor dx = cuda(x), dw = cuda(w), db = cuda(bias);
  accelerator_->compute_stream().synchronize();
  const Tensor got = small.conv2d(dx, dw, db, params);
  VRAMKIT_CUDA_CHECK(cudaDeviceSynchronize());
  const Tensor want = ops::conv2d(x, w, bias, params);
  EXPECT_TRUE(test::close_to(host(got), want, conv_tolerance(x, w, bias, params, want),
                             "conv2d in chunks of 16 pixels, stride (2, 1), padding (1, 0, 2, 1)"));
}

// ---- layout ops: element moves, exact ----

TEST_F(CudaDeviceOps, LayoutOpsAreExact) {
  SCOPED_TRACE(test::seed_trace(seed_));
  const Tensor a = test::random_tensor({2, 3, 5}, DType::bf16, seed_);
  const Tensor b = test::random_tensor({2, 4, 5}, DType::bf16, seed_ + 1);
  const Tensor ct = test::random_tensor({2, 5, 2}, DType::bf16, seed_ + 2);
  const Tensor empty = Tensor::empty({2, 0, 5}, DType::bf16);
  EXPECT_TRUE(
      test::same_values(host(ops::concat({cuda(a), cuda(b), cuda(empty), cuda(ct).transpose(1, 2)}, 1)),
                        ops::concat({a, b, empty, ct.transpose(1, 2)}, 1),
                        "concat along dim 1 with an empty and a transposed piece"));
  EXPECT_TRUE(test::same_values(host(ops::concat({cuda(a), cuda(a)}, -1)), ops::concat({a, a}, -1),
                                "concat along the last dim"));
  const Tensor ids = Tensor::from_floats({2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6}).to(DType::i64);
  EXPECT_TRUE(test::same_values(host(ops::concat({cuda(ids), cuda(ids)}, 0)).to(DType::f32),
                                ops::concat({ids, ids}, 0).to(DType::f32), "concat of i64 ids"));

  const Tensor x = test::random_tensor({2, 3, 4, 5}, DType::f16, seed_ + 3);
  EXPECT_TRUE(test::same_values(host(ops::permute_contiguous(cuda(x), {0, 2, 3, 1})),
                                ops::permute_contiguous(x, {0, 2, 3, 1}), "permute_contiguous"));
  EXPECT_TRUE(test::same_values(host(ops::contiguous(cuda(x).slice(2, 1, 3))),
                                ops::contiguous(x.slice(2, 1, 3)), "contiguous of a slice"));
  const Tensor bytes =
      Tensor::from_floats({3, 4}, std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}).to(DType::u8);
  EXPECT_TRUE(test::same_values(host(ops::contiguous(cuda(bytes).transpose(0, 1))).to(DType::f32),
                                bytes.transpose(0, 1).contiguous().to(DType::f32),
                                "u8 transposed (raw copy)"));
  for (DType from : {DType::f32, DType::bf16, DType::f16})
    for (DType to : {DType::f32, DType::bf16, DType::f16}) {
      const Tensor t = test::random_tensor({7, 9}, from, seed_ + 4, -100.0f, 100.0f);
      EXPECT_TRUE(test::same_values(host(ops::cast(cuda(t).transpose(0, 1), to)),
                                    ops::cast(t.transpose(0, 1), to),
                                    std::string("cast ") + name(from) + " -> " + name(to)));
    }

  const Tensor latents = test::random_tensor({1, 16, 6, 8}, DType::bf16, seed_ + 5);
  const Tensor packed = ops::pack_latents(latents);
  EXPECT_TRUE(test::same_values(host(ops::pack_latents(cuda(latents))), packed, "pack_latents"));
  EXPECT_TRUE(test::same_values(host(ops::unpack_latents(cuda(packed), 6, 8)), latents, "unpack_latents"));
  const Tensor image = test::random_tensor({1, 3, 5, 7}, DType::f32, seed_ + 6);
  EXPECT_TRUE(test::same_values(host(ops::upsample_nearest_2x(cuda(image))), ops::upsample_nearest_2x(image),
                                "upsample_nearest_2x"));
}

}  // namespace
}  // namespace vramkit
