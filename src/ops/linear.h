// linear: the fully connected layer of PyTorch's nn.Linear, with optional per-output-channel weight scales
// for quantized (fp8) weights.
//
//   y[..., o] = Σ_i x[..., i] · W_real[o, i] + bias[o],   W_real[o, :] = scale[o] · W[o, :]
//
// Shapes: x [..., in] (rank >= 1), weight [out, in], scale [out] (optional), bias [out] (optional) -> y [...,
// out]. Dtypes: x f32 / bf16 / f16; weight f32 / bf16 / f16 / f8_e4m3fn / f8_e5m2; scale f32; bias f32 / bf16
// / f16. y has x's dtype. Products accumulate in f32; the result is rounded to y's dtype once. An undefined
// Tensor() stands for an absent bias or scale. Any strides.
#pragma once

#include "core/tensor.h"

namespace vramkit::ops {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Tensor& scale = Tensor());

}  // namespace vramkit::ops
