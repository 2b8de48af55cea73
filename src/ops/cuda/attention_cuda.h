// Launcher of the fused attention kernel on the GPU (contract of ops/attention.h: multi-head and grouped-query,
// optional key padding mask and bottom-right-aligned causal mask, fully masked query rows give zeros), the
// portable fallback and reference beside a future cuDNN SDPA path.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"
#include "ops/cpu/attention.h"

namespace vramkit::cuda {

// True when launch_attention takes this dtype and head_dim (bf16 / f16; 64 / 128).
bool attention_supported(DType dtype, std::int64_t head_dim);

// q [B, Lq, Hq, D], k and v [B, Lk, Hkv, D], out [B, Lq, Hq, D], contiguous, all of `dtype`, in device memory;
// key_valid null (every key valid) or B·Lk bytes in device memory, non-zero = valid; scale multiplies q·k.
// Throws DTypeError / ArgumentError (head_dim, Hq not a multiple of Hkv, negative sizes), CudaError when the
// launch fails.
void launch_attention(const void* q, const void* k, const void* v, void* out, DType dtype,
                      const ops::cpu::AttentionDims& dims, const std::uint8_t* key_valid, bool causal, float scale,
                      cudaStream_t stream);

}  // namespace vramkit::cuda
