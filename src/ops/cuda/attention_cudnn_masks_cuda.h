// Launchers of the two small kernels around cuDNN's fused attention (attention_cudnn.h) for what its graph
// does not express the way ops/attention.h wants: the key padding mask turned into an additive bias (0 for a
// valid key, kMaskedKeyBias for a padded one) and the zeros of query rows that no key is allowed for (what
// cuDNN leaves in a row without keys is a weighted average of padded values, or NaN).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"
#include "ops/cpu/attention.h"

namespace vramkit::cuda {

// The bias of a padded key: finite, not -inf, so that a flash-attention running maximum over a block of keys
// that are all padded stays finite (-inf - -inf would be NaN). A padded key's weight exp(kMaskedKeyBias + s -
// max) is exactly 0 in f32 (below e^-104) whenever its row has a valid key and the row's scaled scores differ
// by less than 30000, i.e. for any real scores. Exactly representable in bf16 and f16.
constexpr float kMaskedKeyBias = -30720.0f;

// key_valid [batch, kv_len] bytes (non-zero = valid) -> bias [batch, kv_len] of `dtype` (bf16 / f16): 0 where
// valid, kMaskedKeyBias where padded; first_valid[b] = the index of batch b's first valid key, kv_len when it
// has none. All in device memory. Throws ArgumentError for non-positive sizes, DTypeError, CudaError when the
// launch fails.
void launch_key_padding_bias(const std::uint8_t* key_valid, void* bias, std::int32_t* first_valid,
                             DType dtype, std::int64_t batch, std::int64_t kv_len, cudaStream_t stream);

// Writes zeros over the query rows of out [B, Lq, Hq, D] (`dtype`, device memory) that see no allowed key:
// with first = first_valid[b] (0 when first_valid is null: every key valid), row i of batch b is empty when
// first > i + Lk - Lq under the causal mask, or first >= Lk without it. Other rows are left as they are.
// Throws ArgumentError for negative sizes, DTypeError, CudaError when the launch fails.
void launch_zero_empty_attention_rows(void* out, DType dtype, const ops::cpu::AttentionDims& dims,
                                      const std::int32_t* first_valid, bool causal, cudaStream_t stream);

}  // namespace vramkit::cuda
