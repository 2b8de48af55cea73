// conv.cu's launcher (ops/cuda/conv_cuda.h) against ops::conv2d on the CPU, on fresh random inputs: the
// whole unfolded image in the scratch, chunks of output pixels (a scratch of 13 and of 5 pixels, so chunks of
// 8 or 5 and a shorter last one), the 1x1 path without im2col, asymmetric padding and strides, and the
// argument checks.
// Tolerance per element: ulp_rtol(dtype)·|want| (both round to the output dtype) + 1e-5·Σ|x·w| (f32 sums in
// another order; Σ|x·w| is the same conv of the absolute values), and with a bias one unit of the conv
// before it (with_product_rounding: the GEMM onto the pre-loaded bias rounds the product first on sm_90).
#include "ops/cuda/conv_cuda.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "cuda_op_test_util.h"
#include "cuda_test_util.h"
#include "ops/conv.h"
#include "ops/op_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

ops::Conv2dParams params_of(const cuda::Conv2dDims& d) {
  return {{d.stride_h, d.stride_w}, {d.pad_top, d.pad_bottom, d.pad_left, d.pad_right}};
}

std::size_t per_pixel_bytes(const cuda::Conv2dDims& d, DType dt) {
  return static_cast<std::size_t>(d.in_channels * d.kernel_h * d.kernel_w + d.out_channels) * dtype_size(dt);
}

void check_conv(cuda::GemmContext& context, DType dt, const cuda::Conv2dDims& d, std::size_t scratch_bytes,
                bool with_bias, std::uint32_t seed, const std::string& what) {
  const Tensor x = test::random_tensor({d.batch, d.in_channels, d.height, d.width}, dt, seed);
  const Tensor w = test::random_tensor({d.out_channels, d.in_channels, d.kernel_h, d.kernel_w}, dt, seed + 1);
  const Tensor bias = with_bias ? test::random_tensor({d.out_channels}, dt, seed + 2) : Tensor();
  const Tensor want = ops::conv2d(x, w, bias, params_of(d));
  const std::vector<float> magnitude = ops::conv2d(test::absolute(x), test::absolute(w),
                                                   with_bias ? test::absolute(bias) : Tensor(), params_of(d))
                                           .to_floats();
  const std::vector<float> wv = want.to_floats();
  std::vector<double> tol(wv.size());
  for (std::size_t i = 0; i < tol.size(); ++i)
    tol[i] = test::ulp_rtol(dt) * std::fabs(wv[i]) + 1e-5 * magnitude[i];
  if (with_bias) tol = test::with_product_rounding(tol, ops::conv2d(x, w, Tensor(), params_of(d)));
  const cuda::DeviceBuffer dx = test::to_device(x), dw = test::to_device(w),
                           db = with_bias ? test::to_device(bias) : cuda::DeviceBuffer();
  const cuda::DeviceBuffer dy = test::poisoned(want.nbytes()), scratch = test::poisoned(scratch_bytes);
  cuda::launch_conv2d(context, dx.data(), dw.data(), with_bias ? db.data() : nullptr, dy.data(), dt, d,
                      scratch_bytes > 0 ? scratch.data() : nullptr, scratch_bytes, nullptr);
  EXPECT_TRUE(test::close_to(test::from_device(dy, want.shape(), dt), want, tol,
                             std::string(dtype_name(dt)) + " " + what + ", " + std::to_string(scratch_bytes) +
                                 " bytes of scratch" + (with_bias ? ", bias" : "")));
}

// x [2, 8, 13, 11] with a kernel of kh x kw.
cuda::Conv2dDims dims(std::int64_t kh, std::int64_t kw, std::int64_t sh, std::int64_t sw,
                      std::array<std::int64_t, 4> pad) {
  return {2, 8, 13, 11, 16, kh, kw, sh, sw, pad[0], pad[1], pad[2], pad[3]};
}

TEST(CudaConv, ScratchSizes) {
  const cuda::Conv2dDims d = dims(3, 3, 1, 1, {1, 1, 1, 1});
  const std::size_t whole = static_cast<std::size_t>(8 * 9 * 13 * 11) * 2;
  EXPECT_EQ(cuda::conv2d_scratch_bytes(d, DType::bf16, whole), whole) << "the whole unfolded image fits";
  const std::size_t pixel = per_pixel_bytes(d, DType::bf16);
  EXPECT_EQ(cuda::conv2d_scratch_bytes(d, DType::bf16, 13 * pixel + 3), 13 * pixel) << "13 pixels fit";
  EXPECT_EQ(cuda::conv2d_scratch_bytes(d, DType::bf16, 1), pixel) << "one pixel at least";
  EXPECT_EQ(cuda::conv2d_scratch_bytes(dims(1, 1, 1, 1, {0, 0, 0, 0}), DType::f32, 1 << 20), 0u)
      << "a 1x1 kernel of stride 1 needs no unfolding";
}

TEST(CudaConv, WholeImageMatchesTheCpu) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::GemmContext context;
  const std::size_t large = std::size_t{1} << 30;
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    for (bool bias : {false, true}) {
      const cuda::Conv2dDims same = dims(3, 3, 1, 1, {1, 1, 1, 1});
      check_conv(context, dt, same, cuda::conv2d_scratch_bytes(same, dt, large), bias, seed, "3x3 padding 1");
    }
    const cuda::Conv2dDims down = dims(3, 3, 2, 2, {0, 1, 0, 1});
    check_conv(context, dt, down, cuda::conv2d_scratch_bytes(down, dt, large), true, seed,
               "3x3 stride 2 padding (0, 1, 0, 1)");
    const cuda::Conv2dDims odd = dims(5, 3, 2, 1, {2, 0, 1, 1});
    check_conv(context, dt, odd, cuda::conv2d_scratch_bytes(odd, dt, large), true, seed,
               "5x3 stride (2, 1) padding (2, 0, 1, 1)");
    const cuda::Conv2dDims strided_1x1 = dims(1, 1, 2, 2, {0, 0, 0, 0});
    check_conv(context, dt, strided_1x1, cuda::conv2d_scratch_bytes(strided_1x1, dt, large), true, seed,
               "1x1 stride 2 (unfolded)");
  }
}

TEST(CudaConv, ChunksOfPixelsMatchTheCpu) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::GemmContext context;
  for (DType dt : {DType::f32, DType::bf16}) {
    for (const cuda::Conv2dDims& d : {dims(3, 3, 1, 1, {1, 1, 1, 1}), dims(3, 3, 2, 2, {0, 1, 0, 1})}) {
      // 13 pixels: chunks of 8 (rounded for alignment); 5 pixels: chunks of 5; both leave a shorter last
      // chunk.
      for (std::size_t pixels : {13u, 5u})
        check_conv(
            context, dt, d, pixels * per_pixel_bytes(d, dt), true, seed,
            "stride " + std::to_string(d.stride_h) + ", chunks of " + std::to_string(pixels) + " pixels");
    }
  }
}

TEST(CudaConv, PointwiseNeedsNoScratch) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  cuda::GemmContext context;
  cuda::Conv2dDims d = dims(1, 1, 1, 1, {0, 0, 0, 0});
  d.batch = 3;
  for (DType dt : {DType::f32, DType::bf16})
    for (bool bias : {false, true}) check_conv(context, dt, d, 0, bias, seed, "1x1, batch 3");
}

TEST(CudaConv, RejectsBadArguments) {
  VRAMKIT_REQUIRE_CUDA();
  cuda::GemmContext context;
  const cuda::Conv2dDims d = dims(3, 3, 1, 1, {1, 1, 1, 1});
  const cuda::DeviceBuffer x(1024), w(1024), y(1024), scratch(1024);
  const std::size_t too_little = per_pixel_bytes(d, DType::f32) - 1;
  test::expect_error<ArgumentError>(
      [&] {
        cuda::launch_conv2d(context, x.data(), w.data(), nullptr, y.data(), DType::f32, d, scratch.data(),
                            too_little, nullptr);
      },
      {"cuda conv2d", "scratch", "one output pixel"});
  cuda::Conv2dDims zero_stride = d;
  zero_stride.stride_w = 0;
  test::expect_error<ArgumentError>(
      [&] {
        cuda::launch_conv2d(context, x.data(), w.data(), nullptr, y.data(), DType::f32, zero_stride,
                            scratch.data(), 1024, nullptr);
      },
      {"cuda conv2d", "stride (1, 0)", "positive"});
  test::expect_error<DTypeError>(
      [&] {
        cuda::launch_conv2d(context, x.data(), w.data(), nullptr, y.data(), DType::i32, d, scratch.data(),
                            1024, nullptr);
      },
      {"cuda conv2d", "i32"});
}

}  // namespace
}  // namespace vramkit
