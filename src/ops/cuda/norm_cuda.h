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

// One modulation vector per batch element: element c of batch element b at data + b · batch_stride + c
// (elements; batch_stride 0: one vector for the whole batch). dtype f32 / bf16 / f16.
struct ModulationParam {
  const void* data = nullptr;
  DType dtype = DType::f32;
  std::int64_t batch_stride = 0;
};

// Whether launch_layer_norm_modulate takes these buffers: rows of whole packs of 8 elements, at most 8192
// columns, x and y aligned to a pack (the kernel that keeps a row in registers).
bool layer_norm_modulate_supported(const void* x, const void* y, DType dtype, std::int64_t cols);

// y[r, :] = n · (1 + scale[b]) + shift[b] with n = layer_norm(x[r, :]) without affine, rounded to `dtype`,
// and b = r / rows_per_batch (ops::layer_norm_modulate): the bits of launch_layer_norm followed by the
// modulate of launch_ternary, in one pass. x and y contiguous rows x cols (y may alias x). Throws
// ArgumentError when layer_norm_modulate_supported is false or a size is bad, DTypeError, CudaError.
void launch_layer_norm_modulate(const void* x, void* y, DType dtype, std::int64_t rows, std::int64_t cols,
                                std::int64_t rows_per_batch, ModulationParam shift, ModulationParam scale,
                                float eps, cudaStream_t stream);

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
