// The key padding bias and the zeroing of empty query rows around cuDNN's fused attention
// (attention_cudnn_masks_cuda.h).
// Bias: one block per batch element writes its kv_len bias values and reduces the first valid key's index
// (shared-memory atomicMin). Zeroing: one block per query row (grid-stride), which returns at once unless the
// row is empty, so only empty rows cost memory traffic.
#include <string>

#include "backends/cuda/cuda_check.h"
#include "ops/cuda/attention_cudnn_masks_cuda.h"
#include "ops/cuda/kernel_util.cuh"

namespace vramkit::cuda {
namespace {

constexpr int kBlockThreads = 256;

template <DType T>
__global__ void __launch_bounds__(kBlockThreads)
    key_padding_bias_kernel(const std::uint8_t* key_valid, typename Format<T>::Storage* bias,
                            std::int32_t* first_valid, std::int64_t kv_len) {
  using F = Format<T>;
  __shared__ int first;
  if (threadIdx.x == 0) first = static_cast<int>(kv_len);
  __syncthreads();
  const std::int64_t b = blockIdx.x;
  int local_first = static_cast<int>(kv_len);
  for (std::int64_t j = threadIdx.x; j < kv_len; j += blockDim.x) {
    const bool valid = key_valid[b * kv_len + j] != 0;
    bias[b * kv_len + j] = F::encode(valid ? 0.0f : kMaskedKeyBias);
    if (valid && j < local_first) local_first = static_cast<int>(j);
  }
  atomicMin(&first, local_first);
  __syncthreads();
  if (threadIdx.x == 0) first_valid[b] = first;
}

template <DType T>
__global__ void __launch_bounds__(kBlockThreads)
    zero_empty_rows_kernel(typename Format<T>::Storage* out, const std::int32_t* first_valid,
                           std::int64_t rows, std::int64_t q_len, std::int64_t kv_len,
                           std::int64_t row_elements, bool causal) {
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const std::int64_t b = row / q_len, i = row % q_len;
    const std::int64_t first = first_valid ? first_valid[b] : 0;
    const std::int64_t last_allowed = causal ? i + kv_len - q_len : kv_len - 1;
    if (first <= last_allowed) continue;  // uniform across the block
    for (std::int64_t e = threadIdx.x; e < row_elements; e += blockDim.x)
      out[row * row_elements + e] = Format<T>::encode(0.0f);
  }
}

void check_half_dtype(DType dtype, const char* op) {
  if (dtype != DType::bf16 && dtype != DType::f16)
    throw DTypeError(std::string(op) + ": dtype " + std::string(dtype_name(dtype)) +
                     " is not supported (bf16, f16)");
}

}  // namespace

void launch_key_padding_bias(const std::uint8_t* key_valid, void* bias, std::int32_t* first_valid,
                             DType dtype, std::int64_t batch, std::int64_t kv_len, cudaStream_t stream) {
  check_half_dtype(dtype, "cuda key padding bias");
  if (batch <= 0 || kv_len <= 0 || kv_len > INT32_MAX)
    throw ArgumentError("cuda key padding bias: batch " + std::to_string(batch) + " and key length " +
                        std::to_string(kv_len) + " must be positive (key length below 2^31)");
  dispatch_activation_dtype(dtype, "cuda key padding bias", "bias", [&](auto t) {
    constexpr DType T = decltype(t)::value;
    key_padding_bias_kernel<T><<<static_cast<unsigned>(batch), kBlockThreads, 0, stream>>>(
        key_valid, static_cast<typename Format<T>::Storage*>(bias), first_valid, kv_len);
    VRAMKIT_CUDA_CHECK(cudaGetLastError());
  });
}

void launch_zero_empty_attention_rows(void* out, DType dtype, const ops::cpu::AttentionDims& dims,
                                      const std::int32_t* first_valid, bool causal, cudaStream_t stream) {
  check_half_dtype(dtype, "cuda attention empty rows");
  if (dims.batch < 0 || dims.q_len < 0 || dims.kv_len < 0 || dims.q_heads < 0 || dims.head_dim < 0)
    throw ArgumentError("cuda attention empty rows: negative size");
  const std::int64_t rows = dims.batch * dims.q_len, row_elements = dims.q_heads * dims.head_dim;
  if (rows == 0 || row_elements == 0) return;
  dispatch_activation_dtype(dtype, "cuda attention empty rows", "out", [&](auto t) {
    constexpr DType T = decltype(t)::value;
    zero_empty_rows_kernel<T><<<grid_blocks(rows, 1), kBlockThreads, 0, stream>>>(
        static_cast<typename Format<T>::Storage*>(out), first_valid, rows, dims.q_len, dims.kv_len,
        row_elements, causal);
    VRAMKIT_CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace vramkit::cuda
