// Shared by the CUDA op kernels: dispatch of a run-time dtype to a Format template, grid sizing, and warp /
// block sum and max reductions (f32, butterfly shuffles, so every lane ends with the result).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

#include "core/dtype.h"
#include "ops/cuda/dtype_format.cuh"
#include "vramkit/error.h"

namespace vramkit::cuda {

// The activation dtypes of the CUDA kernels (the element type of x and of the output, and every operand read
// through AnyFloat).
inline bool activation_dtype(DType dt) {
  return dt == DType::f32 || dt == DType::bf16 || dt == DType::f16;
}

// DTypeError "<op>: <what> dtype <dt> is not supported (f32, bf16, f16)" unless dt is an activation dtype.
inline void check_activation_dtype(DType dt, const char* op, const char* what) {
  if (!activation_dtype(dt))
    throw DTypeError(std::string(op) + ": " + what + " dtype " + std::string(dtype_name(dt)) +
                     " is not supported (f32, bf16, f16)");
}

// Calls fn(std::integral_constant<DType, dt>{}) for dt f32 / bf16 / f16; check_activation_dtype's error
// otherwise.
template <typename Fn>
void dispatch_activation_dtype(DType dt, const char* op, const char* what, Fn&& fn) {
  check_activation_dtype(dt, op, what);
  switch (dt) {
    case DType::f32:
      return fn(std::integral_constant<DType, DType::f32>{});
    case DType::bf16:
      return fn(std::integral_constant<DType, DType::bf16>{});
    default:
      return fn(std::integral_constant<DType, DType::f16>{});
  }
}

// Blocks for a grid-stride loop over `work` items with `threads` per block, capped so that the grid stays a
// few waves on the largest GPU (more blocks only add scheduling overhead).
inline unsigned grid_blocks(std::int64_t work, unsigned threads, std::int64_t cap = 65535) {
  const std::int64_t wanted = (work + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<std::int64_t>(wanted, 1, cap));
}

// Sum / max over aligned groups of `Width` lanes (a power of two up to 32): every lane of the warp must call
// it (the shuffles name the full warp), and each gets its own group's result.
template <int Width = 32>
__device__ inline float warp_sum(float v) {
  for (int offset = Width / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <int Width = 32>
__device__ inline float warp_max(float v) {
  for (int offset = Width / 2; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Reduction over the `Threads` threads that share one row: within the warp when Threads <= 32 (aligned groups
// of lanes), else through `scratch` (Threads / 32 floats of shared memory). Every thread of the block's warps
// must call it; every thread gets its group's result. The trailing barrier lets the caller reuse `scratch`
// for the next reduction.
template <int Threads, bool Max>
__device__ inline float group_reduce(float v, float* scratch) {
  if constexpr (Threads < 32) {
    (void)scratch;
    return Max ? warp_max<Threads>(v) : warp_sum<Threads>(v);
  }
  v = Max ? warp_max(v) : warp_sum(v);
  if constexpr (Threads > 32) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float r = lane < Threads / 32 ? scratch[lane] : (Max ? -INFINITY : 0.0f);
    r = Max ? warp_max(r) : warp_sum(r);
    __syncthreads();
    return r;
  } else {
    (void)scratch;
    return v;
  }
}

}  // namespace vramkit::cuda
