// Launchers of the last-dimension normalizations on the GPU (contracts of ops/norm.h: LayerNorm and RMSNorm
// over the last dimension, result rounded once to x's dtype). Raw device pointers, contiguous rows.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"

namespace vramkit::cuda {

// An optional per-column parameter vector (weight or bias) of `cols` elements in device memory; data ==
// nullptr means absent. dtype f32 / bf16 / f16, independent of x's.
struct NormParam {
  const void* data = nullptr;
  DType dtype = DType::f32;
};

// y[r, :] = (x[r, :] - mean) / sqrt(var + eps) · weight + bias over rows x cols (biased variance), x and y
// contiguous of `dtype` (f32 / bf16 / f16; y may alias x). Throws DTypeError for another dtype, ArgumentError
// for negative sizes, CudaError when the launch fails.
void launch_layer_norm(const void* x, void* y, DType dtype, std::int64_t rows, std::int64_t cols,
                       NormParam weight, NormParam bias, float eps, cudaStream_t stream);

// y[r, :] = x[r, :] / sqrt(mean(x[r, :]²) + eps) · weight. The per-head q/k norm of the DiT and the text
// encoder is this with rows = B·L·H and cols = head_dim (x [B, L, H, head_dim] contiguous, weight
// [head_dim]).
void launch_rms_norm(const void* x, void* y, DType dtype, std::int64_t rows, std::int64_t cols,
                     NormParam weight, float eps, cudaStream_t stream);

// The VAE's channel RMS norm, x and y [batch, channels, spatial] contiguous of `dtype` (y may alias x):
//   y[b, c, s] = x[b, c, s] · sqrt(channels) / max(‖x[b, :, s]‖₂, eps) · gamma[c] + bias[c]
// gamma required, bias optional (NormParam{} when absent). Throws ArgumentError for a missing gamma or
// negative sizes, DTypeError, CudaError when the launch fails.
void launch_channel_rms_norm(const void* x, void* y, DType dtype, std::int64_t batch, std::int64_t channels,
                             std::int64_t spatial, NormParam gamma, NormParam bias, float eps,
                             cudaStream_t stream);

}  // namespace vramkit::cuda
