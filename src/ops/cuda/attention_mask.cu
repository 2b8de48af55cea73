// The masking steps of attention on the GPU (ops/cuda/attention_mask_cuda.h).
// Thread mapping: one thread per element in a grid-stride loop; the score mask walks rows with blockIdx.y and
// keys with the x dimension, so a warp touches 32 consecutive scores of one row.
// Precision: exact (comparisons and stores of -inf).
#include <cmath>
#include <string>

#include "backends/cuda/cuda_check.h"
#include "ops/cuda/attention_mask_cuda.h"
#include "ops/cuda/kernel_util.cuh"

namespace vramkit::cuda {
namespace {

constexpr unsigned kThreads = 256;

template <typename Element>
__global__ void __launch_bounds__(kThreads)
    mask_to_bytes_kernel(const Element* __restrict__ mask, std::int64_t count,
                         std::uint8_t* __restrict__ out) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    out[i] = mask[i] != Element{0} ? 1 : 0;
}

__global__ void __launch_bounds__(kThreads)
    mask_scores_kernel(float* scores, std::int64_t rows, std::int64_t kv_len, std::int64_t first_row,
                       std::int64_t q_len, const std::uint8_t* __restrict__ key_valid, bool causal) {
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    // Keys after `last_allowed` are hidden from this query row by the causal mask.
    const std::int64_t last_allowed = causal ? first_row + r + (kv_len - q_len) : kv_len - 1;
    float* row = scores + r * kv_len;
    for (std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < kv_len;
         j += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
      if (j > last_allowed || (key_valid && key_valid[j] == 0)) row[j] = -INFINITY;
  }
}

template <typename Element>
void launch_bytes(const void* mask, std::int64_t count, std::uint8_t* out, cudaStream_t stream) {
  mask_to_bytes_kernel<Element><<<grid_blocks(count, kThreads, 4096), kThreads, 0, stream>>>(
      static_cast<const Element*>(mask), count, out);
  VRAMKIT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void launch_mask_to_bytes(const void* mask, DType dtype, std::int64_t count, std::uint8_t* out,
                          cudaStream_t stream) {
  if (count < 0) throw ArgumentError("cuda key mask: negative count " + std::to_string(count));
  if (count == 0) return;
  switch (dtype) {
    case DType::boolean:
    case DType::u8:
      return launch_bytes<std::uint8_t>(mask, count, out, stream);
    case DType::i32:
      return launch_bytes<std::int32_t>(mask, count, out, stream);
    case DType::i64:
      return launch_bytes<std::int64_t>(mask, count, out, stream);
    default:
      throw DTypeError("cuda key mask: dtype " + std::string(dtype_name(dtype)) +
                       " is not supported (bool, u8, i32, i64)");
  }
}

void launch_mask_scores(float* scores, std::int64_t rows, std::int64_t kv_len, std::int64_t first_row,
                        std::int64_t q_len, const std::uint8_t* key_valid, bool causal, cudaStream_t stream) {
  if (rows < 0 || kv_len < 0 || first_row < 0 || q_len < 0)
    throw ArgumentError("cuda score mask: negative size (rows " + std::to_string(rows) + ", kv_len " +
                        std::to_string(kv_len) + ", first_row " + std::to_string(first_row) + ", q_len " +
                        std::to_string(q_len) + ")");
  if (rows == 0 || kv_len == 0 || (!key_valid && !causal)) return;
  const unsigned blocks_x = grid_blocks(kv_len, kThreads, 1024);
  const unsigned blocks_y = static_cast<unsigned>(std::min<std::int64_t>(rows, 65535));
  mask_scores_kernel<<<dim3(blocks_x, blocks_y), kThreads, 0, stream>>>(scores, rows, kv_len, first_row,
                                                                        q_len, key_valid, causal);
  VRAMKIT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace vramkit::cuda
