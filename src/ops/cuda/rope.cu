// Rotary position embedding on the GPU.
// Algorithm: each thread rotates one pair of one head: it reads the two elements and the pair's cos/sin, and
// writes the two results (in place is safe: nothing else reads the pair).
// Thread mapping: a grid-stride loop over B·L·H·(D/2) pairs, j (the pair) fastest, so consecutive threads
// read consecutive table entries and, for the interleaved pairing, consecutive element pairs.
// Precision: the CPU's arithmetic exactly (each product rounded, then the sum: __fmul_rn / __fadd_rn, never
// an FMA), so the result is bit-identical to ops/cpu/rope.cpp's rope_f32 followed by the same rounding.
#include <string>

#include "backends/cuda/cuda_check.h"
#include "ops/cuda/kernel_util.cuh"
#include "ops/cuda/rope_cuda.h"

namespace vramkit::cuda {
namespace {

constexpr unsigned kThreads = 256;

template <DType T, bool Interleaved>
__global__ void __launch_bounds__(kThreads)
    rope_kernel(const typename Format<T>::Storage* x, typename Format<T>::Storage* out, RopeDims d,
                const float* __restrict__ cos, const float* __restrict__ sin, bool table_per_batch) {
  using F = Format<T>;
  const std::int64_t pairs = d.head_dim / 2;
  const std::int64_t total = d.batch * d.len * d.heads * pairs;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t j = i % pairs;
    const std::int64_t head_row = i / pairs;        // (b·L + l)·H + h
    const std::int64_t token = head_row / d.heads;  // b·L + l
    const std::int64_t table_row = table_per_batch ? token : token % d.len;
    const float c = cos[table_row * pairs + j], s = sin[table_row * pairs + j];
    const std::int64_t base = head_row * d.head_dim;
    const std::int64_t first = base + (Interleaved ? 2 * j : j);
    const std::int64_t second = first + (Interleaved ? 1 : pairs);
    const float a = F::decode(x[first]), b = F::decode(x[second]);
    out[first] = F::encode(__fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s)));
    out[second] = F::encode(__fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s)));
  }
}

}  // namespace

void launch_rope(const void* x, void* out, DType dtype, const RopeDims& dims, const float* cos,
                 const float* sin, bool table_per_batch, bool interleaved, cudaStream_t stream) {
  if (dims.batch < 0 || dims.len < 0 || dims.heads < 0 || dims.head_dim < 0)
    throw ArgumentError("cuda rope: negative size (batch " + std::to_string(dims.batch) + ", len " +
                        std::to_string(dims.len) + ", heads " + std::to_string(dims.heads) + ", head_dim " +
                        std::to_string(dims.head_dim) + ")");
  if (dims.head_dim % 2 != 0)
    throw ArgumentError("cuda rope: head_dim " + std::to_string(dims.head_dim) + " is odd");
  dispatch_activation_dtype(dtype, "cuda rope", "x", [&](auto t) {
    constexpr DType T = decltype(t)::value;
    const std::int64_t total = dims.batch * dims.len * dims.heads * (dims.head_dim / 2);
    if (total == 0) return;
    const auto* xs = static_cast<const typename Format<T>::Storage*>(x);
    auto* outs = static_cast<typename Format<T>::Storage*>(out);
    const unsigned blocks = grid_blocks(total, kThreads);
    if (interleaved)
      rope_kernel<T, true><<<blocks, kThreads, 0, stream>>>(xs, outs, dims, cos, sin, table_per_batch);
    else
      rope_kernel<T, false><<<blocks, kThreads, 0, stream>>>(xs, outs, dims, cos, sin, table_per_batch);
    VRAMKIT_CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace vramkit::cuda
