// Softmax over the last dimension on the GPU.
// Algorithm: three passes over each row by one group of threads: the maximum, the sum of exp(x - max), then y
// = exp(x - max) / sum (the row is re-read from L1/L2, so any width works). Subtracting the maximum keeps
// every exponent <= 0, so nothing overflows.
// Thread mapping: as norm.cu: blocks of 256 threads, one warp per row up to 1024 columns, else one block per
// row; grid-stride over rows.
// Precision: f32 throughout, expf (accurate, ~1 ulp) and an IEEE division; sums reduced as a tree. Relative
// error of a few f32 ulps per element; one rounding to the output dtype. Reference: a double-precision
// softmax (tests).
#include <string>

#include "backends/cuda/cuda_check.h"
#include "ops/cuda/kernel_util.cuh"
#include "ops/cuda/softmax_cuda.h"

namespace vramkit::cuda {
namespace {

constexpr int kBlockThreads = 256;
constexpr std::int64_t kWarpRowMax = 1024;

// RowThreads threads per row (32 or kBlockThreads); with kBlockThreads the row loop is uniform across the
// block, so every thread reaches the barriers inside group_reduce.
template <DType T, int RowThreads>
__global__ void __launch_bounds__(kBlockThreads)
    softmax_kernel(const typename Format<T>::Storage* x, typename Format<T>::Storage* y, std::int64_t rows,
                   std::int64_t cols) {
  using F = Format<T>;
  __shared__ float scratch[kBlockThreads / 32];
  constexpr int kRowsPerBlock = kBlockThreads / RowThreads;
  const int lane = threadIdx.x % RowThreads;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / RowThreads;
       row < rows; row += static_cast<std::int64_t>(gridDim.x) * kRowsPerBlock) {
    const auto* xr = x + row * cols;
    auto* yr = y + row * cols;
    // fmaxf drops NaN, so NaN is tracked apart and forced into the maximum (then every output is NaN).
    float max = -INFINITY, nan = 0.0f;
    for (std::int64_t c = lane; c < cols; c += RowThreads) {
      const float v = F::decode(xr[c]);
      max = fmaxf(max, v);
      if (isnan(v)) nan = 1.0f;
    }
    max = group_reduce<RowThreads, true>(max, scratch);
    if (group_reduce<RowThreads, true>(nan, scratch) != 0.0f) max = NAN;
    if (max == -INFINITY) {  // every key masked: zeros by convention
      for (std::int64_t c = lane; c < cols; c += RowThreads) yr[c] = F::encode(0.0f);
      continue;
    }
    float sum = 0.0f;
    for (std::int64_t c = lane; c < cols; c += RowThreads) sum += expf(F::decode(xr[c]) - max);
    sum = group_reduce<RowThreads, false>(sum, scratch);
    for (std::int64_t c = lane; c < cols; c += RowThreads)
      yr[c] = F::encode(expf(F::decode(xr[c]) - max) / sum);
  }
}

}  // namespace

void launch_softmax(const void* x, void* y, DType dtype, std::int64_t rows, std::int64_t cols,
                    cudaStream_t stream) {
  if (rows < 0 || cols < 0)
    throw ArgumentError("cuda softmax: negative size (rows " + std::to_string(rows) + ", cols " +
                        std::to_string(cols) + ")");
  dispatch_activation_dtype(dtype, "cuda softmax", "x", [&](auto t) {
    constexpr DType T = decltype(t)::value;
    if (rows == 0 || cols == 0) return;
    const auto* xs = static_cast<const typename Format<T>::Storage*>(x);
    auto* ys = static_cast<typename Format<T>::Storage*>(y);
    if (cols <= kWarpRowMax)
      softmax_kernel<T, 32>
          <<<grid_blocks(rows, kBlockThreads / 32), kBlockThreads, 0, stream>>>(xs, ys, rows, cols);
    else
      softmax_kernel<T, kBlockThreads>
          <<<grid_blocks(rows, 1), kBlockThreads, 0, stream>>>(xs, ys, rows, cols);
    VRAMKIT_CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace vramkit::cuda
