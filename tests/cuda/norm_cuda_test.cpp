// The CUDA LayerNorm and RMSNorm (ops/cuda/norm_cuda.h) against the CPU ops (ops/norm.h) on fresh random
// inputs: every activation dtype, widths on both sides of the warp-per-row limit (1024) and not multiples of
// 32 or 256, with and without weight and bias, parameters in another dtype than x, in place, the per-head
// RMSNorm and the VAE's channel RMS norm.
// Tolerances: f32 1e-5 absolute + 1e-5 relative (f32 statistics against the CPU's f64 ones, over up to 5000
// elements of magnitude <= 3); bf16 / f16: one unit in the last place of the output (the two paths may round
// an f32 value that differs in its last bits to neighbouring codes) plus 1e-5.
#include "ops/cuda/norm_cuda.h"

#include <gtest/gtest.h>

#include "cuda_op_test_util.h"
#include "cuda_test_util.h"
#include "ops/norm.h"
#include "ops/op_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

constexpr double kF32Tolerance = 1e-5;

double rtol(DType dt) {
  return dt == DType::f32 ? kF32Tolerance : test::ulp_rtol(dt);
}

struct NormCase {
  std::int64_t rows, cols;
};
// Rows of whole packs go to norm_pack_kernel: 16 threads a row (128), 32 (1000, 1024), the block (3072,
// 5000), and past its registers norm_kernel (9000), as do the rows of odd widths.
constexpr NormCase kShapes[] = {{1, 1},    {3, 7},    {5, 128},  {9, 1000}, {4, 1024},
                                {3, 1025}, {2, 3072}, {2, 5000}, {2, 9000}};

cuda::NormParam param(const cuda::DeviceBuffer& b, const Tensor& t) {
  return t.defined() ? cuda::NormParam{b.data(), t.dtype()} : cuda::NormParam{};
}

void check_layer_norm(DType dt, DType param_dt, bool affine, bool with_bias, std::uint32_t seed) {
  for (const NormCase& c : kShapes) {
    // Values in [-1, 3): a non-zero mean, so a wrong mean or a one-pass variance shows.
    const Tensor x = test::random_tensor({c.rows, c.cols}, dt, seed, -1.0f, 3.0f);
    const Tensor w = affine ? test::random_tensor({c.cols}, param_dt, seed + 1, 0.5f, 1.5f) : Tensor();
    const Tensor b = with_bias ? test::random_tensor({c.cols}, param_dt, seed + 2) : Tensor();
    const float eps = 1e-6f;
    const Tensor want = ops::layer_norm(x, w, b, eps);
    const cuda::DeviceBuffer dx = test::to_device(x),
                             dw = w.defined() ? test::to_device(w) : cuda::DeviceBuffer(),
                             db = b.defined() ? test::to_device(b) : cuda::DeviceBuffer();
    const cuda::DeviceBuffer dy = test::poisoned(x.nbytes());
    cuda::launch_layer_norm(dx.data(), dy.data(), dt, c.rows, c.cols, param(dw, w), param(db, b), eps,
                            nullptr);
    EXPECT_TRUE(test::close_to(test::from_device(dy, x.shape(), dt), want, kF32Tolerance, rtol(dt),
                               "layer_norm " + x.str() + (affine ? " weight " : "") +
                                   (with_bias ? " bias " : "") + std::string(dtype_name(param_dt))));
  }
}

TEST(CudaNorm, LayerNormMatchesTheCpu) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    check_layer_norm(dt, dt, false, false, seed);
    check_layer_norm(dt, dt, true, true, seed);
    check_layer_norm(dt, DType::f32, true, false, seed);
    check_layer_norm(dt, DType::bf16, true, true, seed);
  }
}

TEST(CudaNorm, RmsNormMatchesTheCpu) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    for (const NormCase& c : kShapes) {
      for (bool affine : {false, true}) {
        const Tensor x = test::random_tensor({c.rows, c.cols}, dt, seed, -2.0f, 2.0f);
        const Tensor w = affine ? test::random_tensor({c.cols}, DType::bf16, seed + 1, 0.5f, 1.5f) : Tensor();
        const Tensor want = ops::rms_norm(x, w, 1e-6);
        const cuda::DeviceBuffer dx = test::to_device(x),
                                 dw = affine ? test::to_device(w) : cuda::DeviceBuffer();
        const cuda::DeviceBuffer dy = test::poisoned(x.nbytes());
        cuda::launch_rms_norm(dx.data(), dy.data(), dt, c.rows, c.cols, param(dw, w), 1e-6f, nullptr);
        EXPECT_TRUE(test::close_to(test::from_device(dy, x.shape(), dt), want, kF32Tolerance, rtol(dt),
                                   "rms_norm " + x.str() + (affine ? " with weight" : "")));
      }
    }
  }
}

// The DiT's q/k norm: x [B, L, H, head_dim] normalized per head with one weight [head_dim].
TEST(CudaNorm, PerHeadRmsNormMatchesTheCpu) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  for (std::int64_t head_dim : {64, 128}) {
    const Tensor x = test::random_normal({2, 37, 3, head_dim}, DType::bf16, seed, 3.0f);
    const Tensor w = test::random_tensor({head_dim}, DType::bf16, seed + 1, 0.5f, 1.5f);
    const Tensor want = ops::rms_norm(x, w, 1e-6);
    const cuda::DeviceBuffer dx = test::to_device(x), dw = test::to_device(w),
                             dy = test::poisoned(x.nbytes());
    cuda::launch_rms_norm(dx.data(), dy.data(), DType::bf16, 2 * 37 * 3, head_dim, {dw.data(), DType::bf16},
                          1e-6f, nullptr);
    EXPECT_TRUE(test::close_to(test::from_device(dy, x.shape(), DType::bf16), want, kF32Tolerance,
                               rtol(DType::bf16), "per-head rms_norm " + x.str()));
  }
}

TEST(CudaNorm, InPlaceGivesTheSameResult) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  for (std::int64_t cols : {100, 3000}) {
    const Tensor x = test::random_tensor({6, cols}, DType::f32, seed);
    const Tensor w = test::random_tensor({cols}, DType::f32, seed + 1);
    const Tensor want = ops::layer_norm(x, w, Tensor(), 1e-5);
    const cuda::DeviceBuffer dx = test::to_device(x), dw = test::to_device(w);
    cuda::launch_layer_norm(dx.data(), dx.data(), DType::f32, 6, cols, {dw.data(), DType::f32}, {}, 1e-5f,
                            nullptr);
    EXPECT_TRUE(test::close_to(test::from_device(dx, x.shape(), DType::f32), want, kF32Tolerance,
                               kF32Tolerance, "in-place layer_norm " + x.str()));
  }
}

// The VAE's norm: x [B, C, T, H, W] normalized over C at every position, gamma and bias [C, 1, 1, 1].
TEST(CudaNorm, ChannelRmsNormMatchesTheCpu) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    for (const Shape& shape : {Shape{2, 96, 1, 5, 7}, Shape{1, 384, 1, 33, 17}, Shape{3, 4, 1, 1, 1}}) {
      for (bool with_bias : {false, true}) {
        const std::int64_t c = shape[1], spatial = shape.numel() / (shape[0] * c);
        const Tensor x = test::random_tensor(shape, dt, seed, -3.0f, 3.0f);
        const Tensor gamma = test::random_tensor({c, 1, 1, 1}, DType::bf16, seed + 1, 0.5f, 1.5f);
        const Tensor bias = with_bias ? test::random_tensor({c, 1, 1, 1}, DType::f32, seed + 2) : Tensor();
        const Tensor want = ops::channel_rms_norm(x, gamma, bias);
        const cuda::DeviceBuffer dx = test::to_device(x), dg = test::to_device(gamma),
                                 db = with_bias ? test::to_device(bias) : cuda::DeviceBuffer();
        const cuda::DeviceBuffer dy = test::poisoned(x.nbytes());
        cuda::launch_channel_rms_norm(dx.data(), dy.data(), dt, shape[0], c, spatial, param(dg, gamma),
                                      param(db, bias), 1e-12f, nullptr);
        EXPECT_TRUE(test::close_to(test::from_device(dy, shape, dt), want, kF32Tolerance, rtol(dt),
                                   "channel_rms_norm " + x.str() + (with_bias ? " with bias" : "")));
      }
    }
  }
}

// Validation happens before any CUDA call, so these run without a device too.
TEST(CudaNorm, RejectsBadArguments) {
  EXPECT_TRUE(test::throws_with<DTypeError>(
      [] { cuda::launch_rms_norm(nullptr, nullptr, DType::i32, 1, 1, {}, 1e-6f, nullptr); },
      {"cuda rms_norm", "x dtype i32"}));
  EXPECT_TRUE(test::throws_with<DTypeError>(
      [] {
        cuda::launch_layer_norm(nullptr, nullptr, DType::f32, 1, 1, {nullptr, DType::f32},
                                {reinterpret_cast<const void*>(16), DType::f8_e4m3fn}, 1e-6f, nullptr);
      },
      {"cuda layer_norm", "bias dtype f8_e4m3fn"}));
  EXPECT_TRUE(test::throws_with<ArgumentError>(
      [] { cuda::launch_layer_norm(nullptr, nullptr, DType::f32, -1, 4, {}, {}, 1e-6f, nullptr); },
      {"cuda layer_norm", "rows -1"}));
  EXPECT_TRUE(test::throws_with<ArgumentError>(
      [] { cuda::launch_channel_rms_norm(nullptr, nullptr, DType::f32, 1, 4, 4, {}, {}, 1e-12f, nullptr); },
      {"cuda channel_rms_norm", "gamma is missing"}));
}

}  // namespace
}  // namespace vramkit
