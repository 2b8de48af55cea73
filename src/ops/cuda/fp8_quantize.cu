// The activation side of the native fp8 linear on the GPU (fp8_quantize_cuda.h): per-row fp8 quantization of
// x, and the epilogue that turns the fp8 GEMM's f32 sums into y.
// Algorithm: one block of kThreads per row: the threads stride over the row for the amax of the finite |x|
// (a block max reduction, exact), thread 0 writes the scale, then every thread encodes its elements divided
// by it. Precision: the scale and the quotients are IEEE f32 divisions (__fdiv_rn, never approximated), and
// the encoding is the CUDA fp8 intrinsic with __NV_SATFINITE: the same codes and scales as the CPU's
// quantize_fp8_rows, so the GPU and CPU fp8_linear multiply the same operands.
#include <algorithm>
#include <cmath>
#include <string>

#include "backends/cuda/cuda_check.h"
#include "ops/cuda/fp8_quantize_cuda.h"
#include "ops/cuda/kernel_util.cuh"

namespace vramkit::cuda {
namespace {

constexpr int kThreads = 256;

template <DType X, DType Q>
__global__ void quantize_rows_kernel(const typename Format<X>::Storage* __restrict__ x, std::int64_t cols,
                                     float fp8_max, typename Format<Q>::Storage* __restrict__ codes,
                                     float* __restrict__ scales) {
  __shared__ float scratch[kThreads / 32];
  const std::int64_t row = blockIdx.x;
  const typename Format<X>::Storage* in = x + row * cols;
  typename Format<Q>::Storage* out = codes + row * cols;
  float amax = 0.0f;
  for (std::int64_t i = threadIdx.x; i < cols; i += kThreads) {
    const float v = Format<X>::decode(in[i]);
    if (isfinite(v)) amax = fmaxf(amax, fabsf(v));
  }
  amax = group_reduce<kThreads, true>(amax, scratch);
  const float scale = amax > 0.0f ? __fdiv_rn(amax, fp8_max) : 1.0f;
  if (threadIdx.x == 0) scales[row] = scale;
  for (std::int64_t i = threadIdx.x; i < cols; i += kThreads)
    out[i] = Format<Q>::encode(__fdiv_rn(Format<X>::decode(in[i]), scale), true);
}

// y[r, c] = round(s_x[r]·s_w[c]·acc[r, c] + bias[c]), the CPU kernel's operations in its order, each an IEEE
// f32 operation (__fmul_rn / __fadd_rn: never contracted into an FMA), then one rounding to Y. The bias of 0
// when there is none is added too, as on the CPU (it turns a -0 into +0). Grid: x over columns, y over rows.
template <DType Y>
__global__ void scale_accumulators_kernel(const float* __restrict__ acc, const float* __restrict__ row_scales,
                                          const float* __restrict__ col_scales, AnyFloat bias,
                                          typename Format<Y>::Storage* __restrict__ y, std::int64_t rows,
                                          std::int64_t cols) {
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const float sx = row_scales[r];
    for (std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < cols;
         c += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
      const float v = __fmul_rn(__fmul_rn(sx, col_scales[c]), acc[r * cols + c]);
      y[r * cols + c] = Format<Y>::encode(__fadd_rn(v, bias.data ? bias[c] : 0.0f));
    }
  }
}

__global__ void fill_ones_kernel(float* dst, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dst[i] = 1.0f;
}

template <DType X, DType Q>
void launch_rows(const void* x, std::int64_t rows, std::int64_t cols, void* codes, float* scales,
                 cudaStream_t stream) {
  const float fp8_max = Q == DType::f8_e4m3fn ? 448.0f : 57344.0f;
  quantize_rows_kernel<X, Q><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      static_cast<const typename Format<X>::Storage*>(x), cols, fp8_max,
      static_cast<typename Format<Q>::Storage*>(codes), scales);
  VRAMKIT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void launch_quantize_fp8_rows(const void* x, DType x_dtype, std::int64_t rows, std::int64_t cols, void* codes,
                              DType fp8_dtype, float* scales, cudaStream_t stream) {
  if (fp8_dtype != DType::f8_e4m3fn && fp8_dtype != DType::f8_e5m2)
    throw DTypeError("cuda quantize_fp8_rows: target " + std::string(dtype_name(fp8_dtype)) +
                     " is not an fp8 dtype");
  if (rows <= 0) return;
  // Grid x is limited to 2^31 - 1 blocks, far beyond any activation's rows.
  dispatch_activation_dtype(x_dtype, "cuda quantize_fp8_rows", "x", [&](auto xd) {
    if (fp8_dtype == DType::f8_e4m3fn) {
      launch_rows<decltype(xd)::value, DType::f8_e4m3fn>(x, rows, cols, codes, scales, stream);
    } else {
      launch_rows<decltype(xd)::value, DType::f8_e5m2>(x, rows, cols, codes, scales, stream);
    }
  });
}

void launch_scale_fp8_accumulators(const float* acc, const float* row_scales, const float* col_scales,
                                   const void* bias, void* y, DType y_dtype, std::int64_t rows,
                                   std::int64_t cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  constexpr unsigned kColumnThreads = 256;
  const dim3 grid(grid_blocks(cols, kColumnThreads),
                  static_cast<unsigned>(std::min<std::int64_t>(rows, 65535)));
  dispatch_activation_dtype(y_dtype, "cuda scale_fp8_accumulators", "y", [&](auto yd) {
    constexpr DType Y = decltype(yd)::value;
    scale_accumulators_kernel<Y>
        <<<grid, kColumnThreads, 0, stream>>>(acc, row_scales, col_scales, AnyFloat{bias, y_dtype},
                                              static_cast<typename Format<Y>::Storage*>(y), rows, cols);
  });
  VRAMKIT_CUDA_CHECK(cudaGetLastError());
}

void launch_fill_ones(float* dst, std::int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  fill_ones_kernel<<<grid_blocks(n, 256), 256, 0, stream>>>(dst, n);
  VRAMKIT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace vramkit::cuda
