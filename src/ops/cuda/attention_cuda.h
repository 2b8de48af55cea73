// Launcher of the fused attention kernels on the GPU (contract of ops/attention.h: multi-head and
// grouped-query, optional key padding mask and bottom-right-aligned causal mask, fully masked query rows give
// zeros): our own portable path beside a future cuDNN SDPA one.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"
#include "ops/cpu/attention.h"

namespace vramkit::cuda {

enum class AttentionKernel {
  tensor_cores,  // WMMA on the tensor cores (sm_80+); probabilities rounded to the input dtype before P·V
  cuda_cores,    // f32 on the CUDA cores: slow, every step in f32; the reference the fast kernels are checked
                 // by
};

// True when launch_attention takes this dtype and head_dim (bf16 / f16; 64 / 128).
bool attention_supported(DType dtype, std::int64_t head_dim);

// q [B, Lq, Hq, D], k and v [B, Lk, Hkv, D], out [B, Lq, Hq, D], contiguous, all of `dtype`, in device
// memory; key_valid null (every key valid) or B·Lk bytes in device memory, non-zero = valid; scale multiplies
// q·k. The tensor_cores kernel needs 76 KiB of shared memory per block for head_dim 128 (every sm_80+ GPU has
// it). Throws DTypeError / ArgumentError (head_dim, Hq not a multiple of Hkv, negative sizes), CudaError when
// the launch fails.
void launch_attention(const void* q, const void* k, const void* v, void* out, DType dtype,
                      const ops::cpu::AttentionDims& dims, const std::uint8_t* key_valid, bool causal,
                      float scale, AttentionKernel kernel, cudaStream_t stream);

}  // namespace vramkit::cuda
