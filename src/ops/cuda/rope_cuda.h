// Launcher of the rotary position embedding on the GPU (contract of ops/rope.h: both pairings, a cos/sin
// table shared by the batch or per batch element, computed in f32, rounded once to x's dtype).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"

namespace vramkit::cuda {

struct RopeDims {
  std::int64_t batch = 0;
  std::int64_t len = 0;
  std::int64_t heads = 0;
  std::int64_t head_dim = 0;  // even
};

// x and out [B, L, H, D] contiguous of `dtype` (f32 / bf16 / f16) in device memory; out may be x. cos and sin
// f32 [L, D/2], or [B, L, D/2] when table_per_batch. interleaved: pairs (2j, 2j+1) (the Qwen-Image DiT);
// otherwise rotate-half pairs (j, j + D/2) (Qwen2.5-VL). Throws ArgumentError for an odd head_dim or a
// negative size, DTypeError, CudaError when the launch fails.
void launch_rope(const void* x, void* out, DType dtype, const RopeDims& dims, const float* cos,
                 const float* sin, bool table_per_batch, bool interleaved, cudaStream_t stream);

}  // namespace vramkit::cuda
