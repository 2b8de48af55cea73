// Normalizations of the DiT, the text encoder and the VAE. Statistics are accumulated in f64 from the exact
// input values; the normalized value, the weight and the bias are applied in f32 and the result is rounded
// once to x's dtype (PyTorch's bf16 RMSNorm rounds once more, to the weight's dtype, before multiplying by
// the weight; that extra rounding is the caller's to add when bit-closeness to it matters). Dtypes: x,
// weight, bias f32 / bf16 / f16, mixed allowed. Any strides. An undefined Tensor() is an absent weight or
// bias.
#pragma once

#include "core/tensor.h"

namespace vramkit::ops {

// LayerNorm over the last dimension D of x [..., D] (nn.LayerNorm(D, eps)):
//   y = (x - mean) / sqrt(var + eps) · weight + bias,  mean and biased var over the D elements.
// weight, bias: [D] or absent (elementwise_affine=False).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);

// modulate(layer_norm(x, no weight, no bias, eps), shift, scale): the DiT's norm1 / norm2 and its
// modulation, bit for bit the two ops (the normalized x is rounded to x's dtype in between, as the first op's
// result is), in one pass over x where the device fuses them (CUDA: x contiguous, shift and scale
// [B or 1, 1, ..., D] with D contiguous, e.g. [B, 1, D] rows of a modulation); else the two ops.
Tensor layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale, double eps);

// RMSNorm over the last dimension D of x [..., D]: y = x / sqrt(mean(x²) + eps) · weight; weight [D] or
// absent. Per-head q/k norms pass x [B, L, H, head_dim] with weight [head_dim].
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps);

// The channel RMS norm of the Wan / Qwen-Image VAE (diffusers QwenImageRMS_norm / WanRMS_norm,
// channel-first):
//   y[b, c, s] = x[b, c, s] / max(‖x[b, :, s]‖₂, eps) · sqrt(C) · gamma[c] + bias[c]
// i.e. F.normalize(x, dim=1) · sqrt(C) · gamma + bias, for x [B, C, ...] (rank >= 2, e.g. [B, C, T, H, W]).
// gamma and bias hold C values in any shape [C, 1, ..., 1] (the checkpoints store [C, 1, 1, 1] or [C, 1, 1]);
// bias may be absent. eps defaults to F.normalize's 1e-12.
Tensor channel_rms_norm(const Tensor& x, const Tensor& gamma, const Tensor& bias = Tensor(),
                        double eps = 1e-12);

}  // namespace vramkit::ops
