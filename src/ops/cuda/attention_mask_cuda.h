// Launchers of the masking steps of attention on the GPU: a key padding mask of any integer dtype turned into
// the bytes the fused kernel reads, and the masks applied to a block of f32 scores on the GEMM path
// (cuda_device_ops.cpp: S = q·kᵀ, masked, softmax, P·V for the head sizes the fused kernel does not take).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"

namespace vramkit::cuda {

// out[i] = mask[i] != 0 ? 1 : 0 for i < count; mask contiguous bool / u8 / i32 / i64 in device memory, out
// count bytes in device memory. Throws DTypeError for another dtype, ArgumentError for a negative count,
// CudaError when the launch fails.
void launch_mask_to_bytes(const void* mask, DType dtype, std::int64_t count, std::uint8_t* out,
                          cudaStream_t stream);

// Sets to -inf the scores a query may not see, in a block of `rows` query rows starting at query row
// `first_row` of `q_len`: scores [rows, kv_len] contiguous f32 in device memory; key j is masked when
// key_valid (kv_len bytes of this batch element, or null) is 0 there, or, when causal, when
// j > first_row + r + (kv_len - q_len) (ops/attention.h's bottom-right alignment). Throws ArgumentError for
// negative sizes, CudaError when the launch fails.
void launch_mask_scores(float* scores, std::int64_t rows, std::int64_t kv_len, std::int64_t first_row,
                        std::int64_t q_len, const std::uint8_t* key_valid, bool causal, cudaStream_t stream);

}  // namespace vramkit::cuda
