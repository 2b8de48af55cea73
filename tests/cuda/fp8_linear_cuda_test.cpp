// The native fp8 linear on the GPU: the activation quantization kernel (fp8_quantize_cuda.h) bit for bit
// against the CPU's quantize_fp8_rows, ops::fp8_linear on CUDA tensors (quantize, cuBLASLt fp8 GEMMs into f32
// a block of rows at a time, the epilogue kernel with both scales and the bias) against the CPU
// ops::fp8_linear, and the fallback (dequantize +
// GEMM) where cuBLASLt has no native product, against ops::linear with the fp8 weight. Fresh random inputs;
// the seed is printed with every failure.
// Tolerance of the native product: both sides multiply the same fp8 operands (the codes and scales are
// bit-identical) and apply the scales and the bias in the same f32 operations, so they differ in summation
// order and in the tensor cores' accumulation: ulp_rtol(dtype)·|want| (both round to the output dtype) +
// (1e-5 + 2^-11)·Σ_i |x_i·w_real_i|. 2^-11: Hopper's fp8 tensor cores keep about 14 bits of the running sum
// between cuBLASLt's promotions to f32 (DeepSeek-V3's report; seen on an H100, 2026-11-28: at most
// 4e-5·Σ|x·w|, in a few elements where the sum cancels); a wrong element of a layout or scale mistake is
// off by about Σ|x·w| / sqrt(in), far above. (The fp8 operands are within 7% of x and w_real, so Σ|x·w_real|
// bounds theirs.)
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "backends/cuda/cuda_accelerator.h"
#include "backends/cuda/cuda_check.h"
#include "cuda_op_test_util.h"
#include "cuda_test_util.h"
#include "ops/cuda/cuda_device_ops.h"
#include "ops/cuda/fp8_quantize_cuda.h"
#include "ops/fp8_linear.h"
#include "ops/linear.h"
#include "ops/op_test_util.h"
#include "ops/placement.h"
#include "vram/fp8_scaling.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

constexpr std::size_t kArenaBytes = std::size_t{2} << 30;

int compute_capability() {
  int major = 0, minor = 0;
  VRAMKIT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0));
  VRAMKIT_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0));
  return 10 * major + minor;
}

// The weight quantized per row as the VRAM manager stores it: codes and scales.
struct Fp8Weight {
  Tensor codes, scale, real;  // real: scale[o] · codes[o, :] in f32 (for the tolerance)
};

Fp8Weight quantized_weight(std::int64_t out, std::int64_t in, DType fp8, std::uint32_t seed) {
  const Tensor w = test::random_normal({out, in}, DType::f32, seed, 0.02f);
  Fp8Weight q{Tensor::empty({out, in}, fp8), Tensor::empty({out}, DType::f32), Tensor()};
  quantize_fp8_rows(w.data(), DType::f32, static_cast<std::size_t>(out), static_cast<std::size_t>(in),
                    q.codes.data(), fp8, Fp8Scaling::per_channel, q.scale.data_as<float>());
  std::vector<float> real = q.codes.to_floats();
  const std::vector<float> s = q.scale.to_floats();
  for (std::size_t i = 0; i < real.size(); ++i) real[i] *= s[i / static_cast<std::size_t>(in)];
  q.real = Tensor::from_floats({out, in}, real);
  return q;
}

constexpr double kFp8TensorCoreAccumulation = 1.0 / 2048;  // see the file comment

std::vector<double> product_tolerance(const Tensor& want, const Tensor& x, const Tensor& w_real,
                                      double extra_rtol = kFp8TensorCoreAccumulation) {
  const std::vector<float> v = want.to_floats(),
                           m = ops::linear(test::absolute(x), test::absolute(w_real)).to_floats();
  std::vector<double> tol(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    tol[i] = test::ulp_rtol(want.dtype()) * std::fabs(v[i]) + (1e-5 + extra_rtol) * m[i];
  return tol;
}

class CudaFp8Linear : public ::testing::Test {
 protected:
  void SetUp() override {
    VRAMKIT_REQUIRE_CUDA();
    accelerator_ = std::make_unique<CudaAccelerator>(0, kArenaBytes);
  }
  static Tensor cuda(const Tensor& t) { return t.defined() ? ops::to_device(t, Device::cuda(0)) : Tensor(); }

  const std::uint32_t seed_ = test::fresh_seed();
  std::unique_ptr<CudaAccelerator> accelerator_;
};

TEST_F(CudaFp8Linear, QuantizationMatchesTheCpuBitForBit) {
  SCOPED_TRACE(test::seed_trace(seed_));
  const std::int64_t rows = 37, cols = 1000;
  for (DType xdt : {DType::f32, DType::bf16, DType::f16})
    for (DType fp8 : {DType::f8_e4m3fn, DType::f8_e5m2}) {
      // Rows of very different magnitudes, one all zeros (scale 1).
      std::vector<float> v = test::random_normal({rows, cols}, DType::f32, seed_).to_floats();
      for (std::size_t i = 0; i < v.size(); ++i) v[i] *= std::exp2(static_cast<float>(i / cols % 9) - 4.0f);
      for (std::int64_t c = 0; c < cols; ++c) v[static_cast<std::size_t>(5 * cols + c)] = 0.0f;
      const Tensor x = Tensor::from_floats({rows, cols}, v).to(xdt);
      Tensor codes = Tensor::empty({rows, cols}, fp8), scales = Tensor::empty({rows}, DType::f32);
      quantize_fp8_rows(x.data(), xdt, rows, cols, codes.data(), fp8, Fp8Scaling::per_channel,
                        scales.data_as<float>());
      const cuda::DeviceBuffer dx = test::to_device(x), dcodes = test::poisoned(codes.nbytes()),
                               dscales = test::poisoned(scales.nbytes());
      cuda::launch_quantize_fp8_rows(dx.data(), xdt, rows, cols, dcodes.data(), fp8,
                                     static_cast<float*>(dscales.data()), nullptr);
      const std::string what = "quantize " + x.str() + " to " + std::string(dtype_name(fp8));
      EXPECT_TRUE(test::same_values(test::from_device(dcodes, codes.shape(), fp8), codes, what + " codes"));
      EXPECT_TRUE(test::same_values(test::from_device(dscales, scales.shape(), DType::f32), scales,
                                    what + " scales"));
    }
}

// Native on sm_89 and newer at shapes cuBLASLt takes (in and out multiples of 16): the CPU kernel's result.
TEST_F(CudaFp8Linear, NativeProductMatchesTheCpuKernel) {
  if (compute_capability() < 89) GTEST_SKIP() << "no fp8 tensor cores below sm_89 (the fallback serves)";
  SCOPED_TRACE(test::seed_trace(seed_));
  struct Case {
    std::int64_t rows, in, out;
  };
  for (const Case c : {Case{1, 16, 16}, Case{45, 320, 144}, Case{257, 3072, 3072}})
    for (DType xdt : {DType::bf16, DType::f16})
      for (bool scaled : {false, true})
        for (bool with_bias : {false, true}) {
          const Tensor x = test::random_normal({c.rows, c.in}, xdt, seed_);
          const Fp8Weight w = quantized_weight(c.out, c.in, DType::f8_e4m3fn, seed_ + 1);
          const Tensor scale = scaled ? w.scale : Tensor();
          const Tensor bias = with_bias ? test::random_tensor({c.out}, DType::bf16, seed_ + 2) : Tensor();
          const Tensor want = ops::fp8_linear(x, w.codes, scale, bias);
          const Tensor got = ops::to_host(ops::fp8_linear(cuda(x), cuda(w.codes), cuda(scale), cuda(bias)));
          EXPECT_TRUE(test::close_to(got, want,
                                     product_tolerance(want, x, scaled ? w.real : w.codes.to(DType::f32)),
                                     "fp8_linear " + x.str() + " x " + w.codes.str() +
                                         (scaled ? " scaled" : "") + (with_bias ? " + bias" : "")));
        }
}

// The f32 sums in blocks of rows, forced by a CudaDeviceOps with a 16 KiB scratch bound, called directly (on
// the legacy default stream: the uploads on the compute stream are waited for first, the result before
// reading it back): 144 channels of f32 sums are 576 bytes a row, so 45 rows go in blocks of 28 and 17.
TEST_F(CudaFp8Linear, NativeProductInBlocksOfRows) {
  if (compute_capability() < 89) GTEST_SKIP() << "no fp8 tensor cores below sm_89 (the fallback serves)";
  SCOPED_TRACE(test::seed_trace(seed_));
  ASSERT_EQ(ops::fp8_accumulator_rows(45, 144, 16384), 28);
  vramkit::cuda::CudaDeviceOps small(0, nullptr, accelerator_->device_allocator(), 16384);
  const Tensor x = test::random_normal({45, 320}, DType::bf16, seed_);
  const Fp8Weight w = quantized_weight(144, 320, DType::f8_e4m3fn, seed_ + 1);
  const Tensor bias = test::random_tensor({144}, DType::bf16, seed_ + 2);
  const Tensor dx = cuda(x), dw = cuda(w.codes), ds = cuda(w.scale), db = cuda(bias);
  accelerator_->compute_stream().synchronize();
  const Tensor got = small.fp8_linear(dx, dw, ds, db);
  VRAMKIT_CUDA_CHECK(cudaDeviceSynchronize());
  const Tensor want = ops::fp8_linear(x, w.codes, w.scale, bias);
  EXPECT_TRUE(test::close_to(ops::to_host(got), want, product_tolerance(want, x, w.real),
                             "fp8_linear in blocks of 28 rows"));
}

// Where cuBLASLt has no native product (e5m2 weights, f32 activations, `in` not a multiple of 16), the
// weight is dequantized and multiplied in x's dtype: ops::linear with the fp8 weight and scales, plus half a
// bf16 ulp of every scaled weight (2^-8·Σ|x·w_real|) for the weight's rounding to x's dtype.
TEST_F(CudaFp8Linear, FallbackIsTheDequantizedProduct) {
  SCOPED_TRACE(test::seed_trace(seed_));
  struct Case {
    DType x_dtype, fp8;
    std::int64_t rows, in, out;
  };
  for (const Case c :
       {Case{DType::bf16, DType::f8_e5m2, 45, 320, 144}, Case{DType::f32, DType::f8_e4m3fn, 9, 64, 32},
        Case{DType::bf16, DType::f8_e4m3fn, 9, 40, 24}}) {
    const Tensor x = test::random_normal({c.rows, c.in}, c.x_dtype, seed_);
    const Fp8Weight w = quantized_weight(c.out, c.in, c.fp8, seed_ + 1);
    const Tensor bias = test::random_tensor({c.out}, DType::bf16, seed_ + 2);
    const Tensor want = ops::linear(x, w.codes, bias, w.scale);
    const Tensor got = ops::to_host(ops::fp8_linear(cuda(x), cuda(w.codes), cuda(w.scale), cuda(bias)));
    EXPECT_TRUE(test::close_to(got, want,
                               product_tolerance(want, x, w.real, c.x_dtype == DType::f32 ? 0 : 1.0 / 256),
                               "fp8_linear fallback " + x.str() + " x " + w.codes.str()));
  }
}

}  // namespace
}  // namespace vramkit
