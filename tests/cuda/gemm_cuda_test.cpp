// The cuBLASLt GEMMs (ops/cuda/gemm_cuda.h) against ops::linear and ops::matmul on the CPU, on fresh random
// inputs: f32, bf16 and f16, with and without bias, shapes from 1x1x1 to a Qwen-Image projection, sizes that
// are no multiple of any tile, buffers at odd offsets (alignment below cuBLASLt's default 256 bytes), the
// plan cache, the fp8 path through the device upcast, batched and transposed matmuls.
// Tolerance per element: ulp_rtol(dtype)·|want| (both sides round the f32 result to the output dtype,
// possibly to neighbouring codes) + 1e-5·Σ_i |x_i·w_i| (f32 accumulation in different orders and splits; a
// wrong element of a layout or transpose mistake is off by about Σ|x·w| / sqrt(in), far above this), and with
// a bias one unit of the product before it (with_product_rounding: cuBLASLt's epilogue rounds twice).
#include "ops/cuda/gemm_cuda.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cuda_op_test_util.h"
#include "cuda_test_util.h"
#include "ops/cuda/convert_cuda.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/matmul.h"
#include "ops/op_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

// The tolerance of each output element, see the file comment.
std::vector<double> gemm_tolerance(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& want) {
  const std::vector<float> magnitude = ops::linear(test::absolute(x), test::absolute(w)).to_floats();
  const std::vector<float> v = want.to_floats();
  std::vector<double> tol(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    tol[i] = test::ulp_rtol(want.dtype()) * std::fabs(v[i]) + 1e-5 * magnitude[i];
  return bias.defined() ? test::with_product_rounding(tol, ops::linear(x, w)) : tol;
}

// Runs one linear with x, the weight, the bias and y placed `offset_elements` into their device buffers.
void check_linear(cuda::GemmContext& context, DType dt, std::int64_t rows, std::int64_t in, std::int64_t out,
                  bool with_bias, std::uint32_t seed, std::int64_t offset_elements = 0) {
  const Tensor x = test::random_tensor({rows, in}, dt, seed);
  const Tensor w = test::random_tensor({out, in}, dt, seed + 1, -0.5f, 0.5f);
  const Tensor bias = with_bias ? test::random_tensor({out}, dt, seed + 2) : Tensor();
  const Tensor want = ops::linear(x, w, bias);
  const std::size_t es = dtype_size(dt), offset = static_cast<std::size_t>(offset_elements) * es;
  auto placed = [&](const Tensor& t) {
    cuda::DeviceBuffer b(offset + t.nbytes());
    VRAMKIT_CUDA_CHECK(
        cudaMemcpy(static_cast<char*>(b.data()) + offset, t.data(), t.nbytes(), cudaMemcpyHostToDevice));
    return b;
  };
  const cuda::DeviceBuffer dx = placed(x), dw = placed(w),
                           db = with_bias ? placed(bias) : cuda::DeviceBuffer();
  const cuda::DeviceBuffer dy = test::poisoned(offset + want.nbytes());
  auto at = [&](const cuda::DeviceBuffer& b) { return static_cast<char*>(b.data()) + offset; };
  cuda::launch_linear_gemm(context, {at(dx), at(dw), with_bias ? at(db) : nullptr, at(dy), dt, rows, in, out},
                           nullptr);
  EXPECT_TRUE(test::close_to(test::from_device(at(dy), want.shape(), dt), want,
                             gemm_tolerance(x, w, bias, want),
                             "linear x " + x.str() + " W " + w.str() + (with_bias ? " + bias" : "") +
                                 " at offset " + std::to_string(offset) + " bytes"));
}

struct GemmShape {
  std::int64_t rows, in, out;
};

TEST(CudaGemm, MatchesTheCpuLinear) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::GemmContext context;
  const GemmShape shapes[] = {{1, 1, 1},       {7, 33, 65},      {64, 128, 256},
                              {100, 3072, 96}, {333, 520, 1000}, {1, 4096, 17}};
  for (DType dt : {DType::f32, DType::bf16, DType::f16})
    for (const GemmShape& s : shapes)
      for (bool bias : {false, true}) check_linear(context, dt, s.rows, s.in, s.out, bias, seed);
}

// A DiT attention projection at a reduced token count: 3072 -> 3072, bf16, with bias.
TEST(CudaGemm, QwenImageProjection) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::GemmContext context;
  check_linear(context, DType::bf16, 257, 3072, 3072, true, seed);
}

// Views at odd element offsets are less aligned than cuBLASLt assumes by default; each alignment gets its
// plan.
TEST(CudaGemm, UnalignedBuffersGetTheirOwnPlans) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::GemmContext context;
  for (std::int64_t offset : {0, 1, 3, 8}) check_linear(context, DType::bf16, 19, 64, 40, true, seed, offset);
  EXPECT_EQ(context.cached_plans(), 3u)
      << "alignments 256, 2 (offsets 1 and 3 share it; the bias pre-loaded into y, no epilogue) and 16 bytes";
}

TEST(CudaGemm, CachesOnePlanPerShape) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::GemmContext context;
  check_linear(context, DType::bf16, 10, 64, 32, true, seed);
  check_linear(context, DType::bf16, 10, 64, 32, true, seed + 10);
  EXPECT_EQ(context.cached_plans(), 1u);
  check_linear(context, DType::bf16, 10, 64, 32, false, seed);
  check_linear(context, DType::bf16, 11, 64, 32, true, seed);
  check_linear(context, DType::f32, 10, 64, 32, true, seed);
  EXPECT_EQ(context.cached_plans(), 4u);
}

// A context keeps its max_plans most recently used plans: a third shape drops the least recent, and a dropped
// shape is planned again and still right.
TEST(CudaGemm, KeepsTheMostRecentlyUsedPlans) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::GemmContext context(nullptr, ops::kLibraryWorkspaceBytes, 2);
  check_linear(context, DType::bf16, 10, 64, 32, true, seed);
  check_linear(context, DType::bf16, 11, 64, 32, true, seed + 1);
  check_linear(context, DType::bf16, 10, 64, 32, true, seed + 2);  // 10 rows used last: 11 is the oldest
  check_linear(context, DType::bf16, 12, 64, 32, true, seed + 3);
  EXPECT_EQ(context.cached_plans(), 2u);
  check_linear(context, DType::bf16, 11, 64, 32, true, seed + 4);  // planned again
  check_linear(context, DType::bf16, 10, 64, 32, true, seed + 5);
  EXPECT_EQ(context.cached_plans(), 2u);
}

// The fp8 path as the VRAM manager will run it: the fp8 weight and its per-channel scales upcast to bf16 on
// the device (launch_dequantize_rows), then the bf16 GEMM; against ops::linear with the fp8 weight and
// scales, which applies the scales in f32 without rounding the weight to bf16. Extra tolerance for that
// rounding: half a bf16 ulp of every scaled weight (relative 2^-8), 2^-8·Σ_i |x_i·w_i|.
TEST(CudaGemm, Fp8WeightsThroughTheUpcast) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::GemmContext context;
  const std::int64_t rows = 45, in = 320, out = 136;
  for (DType fp8 : {DType::f8_e4m3fn, DType::f8_e5m2}) {
    const Tensor x = test::random_tensor({rows, in}, DType::bf16, seed);
    const Tensor w = test::random_tensor({out, in}, fp8, seed + 1, -200.0f, 200.0f);
    const Tensor scale = test::random_tensor({out}, DType::f32, seed + 2, 1e-3f, 4e-3f);
    const Tensor bias = test::random_tensor({out}, DType::bf16, seed + 3);
    const Tensor want = ops::linear(x, w, bias, scale);
    const cuda::DeviceBuffer dx = test::to_device(x), dw8 = test::to_device(w),
                             dscale = test::to_device(scale), db = test::to_device(bias);
    const cuda::DeviceBuffer dw = test::poisoned(static_cast<std::size_t>(out * in) * 2),
                             dy = test::poisoned(want.nbytes());
    cuda::launch_dequantize_rows(dw8.data(), fp8, dw.data(), DType::bf16, out, in,
                                 static_cast<const float*>(dscale.data()), nullptr);
    cuda::launch_linear_gemm(
        context, {dx.data(), dw.data(), db.data(), dy.data(), DType::bf16, rows, in, out}, nullptr);
    // Σ|x·w_real| with the scaled weight in f32.
    std::vector<float> w_real = w.to_floats();
    const std::vector<float> s = scale.to_floats();
    const auto n_in = static_cast<std::size_t>(in);
    for (std::size_t i = 0; i < w_real.size(); ++i) w_real[i] *= s[i / n_in];
    const Tensor w32 = Tensor::from_floats(w.shape(), w_real);
    std::vector<double> tol = gemm_tolerance(x, w32, Tensor(), want);
    const std::vector<float> magnitude = ops::linear(test::absolute(x), test::absolute(w32)).to_floats();
    for (std::size_t i = 0; i < tol.size(); ++i) tol[i] += magnitude[i] / 256;
    EXPECT_TRUE(test::close_to(test::from_device(dy, want.shape(), DType::bf16), want, tol,
                               "fp8 linear, weight " + w.str() + " upcast to bf16"));
  }
}

// The batched matmul against ops::matmul: per-batch matrices, one b shared by the batch (stride 0), b stored
// transposed (keys for q·kᵀ, passed to the CPU as a transposed view), and alpha (a power of two, so scaling
// the CPU result is exact). Tolerance as for linear.
TEST(CudaGemm, BatchedMatmulMatchesTheCpu) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::GemmContext context;
  const std::int64_t batch = 3, m = 17, k = 40, n = 23;
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    for (bool shared_b : {false, true}) {
      for (bool b_transposed : {false, true}) {
        const Tensor a = test::random_tensor({batch, m, k}, dt, seed);
        const Shape b_shape = b_transposed ? Shape{batch, n, k} : Shape{batch, k, n};
        const Tensor b_stored = test::random_tensor(
            shared_b ? (b_transposed ? Shape{n, k} : Shape{k, n}) : b_shape, dt, seed + 1);
        const Tensor b =
            b_transposed ? b_stored.transpose(-1, -2) : b_stored;  // [.., k, n] as matmul reads it
        const float alpha = 0.25f;
        const Tensor want = ops::scale(ops::matmul(a, b), alpha);
        const cuda::DeviceBuffer da = test::to_device(a), db = test::to_device(b_stored);
        const cuda::DeviceBuffer dc = test::poisoned(want.nbytes());
        cuda::launch_matmul_gemm(context,
                                 {da.data(), db.data(), dc.data(), dt, batch, m, n, k, b_transposed, m * k,
                                  shared_b ? 0 : k * n, alpha},
                                 nullptr);
        const std::vector<float> magnitude = ops::matmul(test::absolute(a), test::absolute(b)).to_floats(),
                                 w = want.to_floats();
        std::vector<double> tol(w.size());
        for (std::size_t i = 0; i < w.size(); ++i)
          tol[i] = test::ulp_rtol(dt) * std::fabs(w[i]) + 1e-5 * alpha * magnitude[i];
        EXPECT_TRUE(test::close_to(test::from_device(dc, want.shape(), dt), want, tol,
                                   "matmul a " + a.str() + " b " + b_stored.str() +
                                       (b_transposed ? "ᵀ" : "") + (shared_b ? " shared" : "")));
      }
    }
  }
}

// beta = 1 (conv2d onto its pre-loaded bias): c = a·b + c0, summed in f32 and rounded once, as the CPU's
// f32 sum rounded to the dtype. c0 = -(a·b) + small noise, so the result is mostly cancellation: a GEMM that
// rounded a·b before adding c0 would be off by up to half a unit of a·b's last place, far above one of c's.
TEST(CudaGemm, AccumulatesOntoCWithBeta) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::GemmContext context;
  const std::int64_t batch = 2, m = 9, k = 50, n = 31;
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    const Tensor a = test::random_tensor({batch, m, k}, dt, seed);
    const Tensor b = test::random_tensor({batch, k, n}, dt, seed + 1);
    const Tensor noise = test::random_tensor({batch, m, n}, DType::f32, seed + 2, -0.01f, 0.01f);
    const Tensor product = ops::matmul(a.to(DType::f32), b.to(DType::f32));
    const Tensor c0 = ops::add(ops::scale(product, -1.0), noise).to(dt);
    const Tensor want = ops::add(product, c0.to(DType::f32)).to(dt);
    const cuda::DeviceBuffer da = test::to_device(a), db = test::to_device(b), dc = test::to_device(c0);
    cuda::launch_matmul_gemm(
        context, {da.data(), db.data(), dc.data(), dt, batch, m, n, k, false, m * k, k * n, 1.0f, 1.0f},
        nullptr);
    const std::vector<float> magnitude = ops::matmul(test::absolute(a), test::absolute(b)).to_floats(),
                             w = want.to_floats();
    std::vector<double> tol(w.size());
    for (std::size_t i = 0; i < w.size(); ++i)
      tol[i] = test::ulp_rtol(dt) * std::fabs(w[i]) + 1e-5 * magnitude[i];
    EXPECT_TRUE(test::close_to(test::from_device(dc, want.shape(), dt), want, tol,
                               "matmul a " + a.str() + " b " + b.str() + " + c (beta 1)"));
  }
}

TEST(CudaGemm, RejectsBadArguments) {
  VRAMKIT_REQUIRE_CUDA();  // the context needs a device
  cuda::GemmContext context;
  EXPECT_TRUE(test::throws_with<DTypeError>(
      [&] {
        cuda::launch_linear_gemm(context, {nullptr, nullptr, nullptr, nullptr, DType::f8_e4m3fn, 1, 1, 1},
                                 nullptr);
      },
      {"cuda linear", "f8_e4m3fn"}));
  EXPECT_TRUE(test::throws_with<ArgumentError>(
      [&] {
        cuda::launch_linear_gemm(context, {nullptr, nullptr, nullptr, nullptr, DType::bf16, 4, 0, 8},
                                 nullptr);
      },
      {"cuda linear", "x [4, 0]"}));
  EXPECT_TRUE(test::throws_with<ArgumentError>(
      [&] {
        cuda::launch_matmul_gemm(context, {nullptr, nullptr, nullptr, DType::bf16, 2, 4, 4, 0, false, 0, 0},
                                 nullptr);
      },
      {"cuda matmul", "a [2, 4, 0]"}));
}

}  // namespace
}  // namespace vramkit
