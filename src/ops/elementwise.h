// Element-wise arithmetic of the DiT blocks and the VAE. Operands broadcast numpy-style (ops/broadcast.h:
// aligned from the right, size-1 or missing dimensions expand), so an AdaLN modulation [B, D] applies to x
// [B, L, D] as mod.unsqueeze(1) and a per-channel vector [D] applies as it is. Dtypes: f32 / bf16 / f16
// inputs, mixed allowed; the result has the first operand's dtype and the broadcast shape. Each element is
// computed in f32 from the exact input values and rounded once. Any strides.
#pragma once

#include "core/tensor.h"

namespace vramkit::ops {

Tensor add(const Tensor& a, const Tensor& b);  // a + b
Tensor mul(const Tensor& a, const Tensor& b);  // a · b
Tensor scale(const Tensor& x, double s);       // x · s (s rounded to f32)

// AdaLN modulation: x · (1 + scale) + shift.
Tensor modulate(const Tensor& x, const Tensor& shift, const Tensor& scale);

// Gated residual: x + gate · y.
Tensor gated_residual(const Tensor& x, const Tensor& gate, const Tensor& y);

// min(max(x, lo), hi) element-wise, NaN staying NaN as in torch.clamp; ArgumentError if lo > hi.
Tensor clamp(const Tensor& x, double lo, double hi);

// x converted to dtype (any dtype pair Tensor::to supports: round to nearest even, saturating fp8).
Tensor cast(const Tensor& x, DType dtype);

}  // namespace vramkit::ops
