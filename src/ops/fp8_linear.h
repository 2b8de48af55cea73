// fp8_linear: a linear layer computed natively in fp8, as a GPU fp8 tensor-core GEMM computes it: the
// activations are quantized per row to the weight's fp8 format, the product of the two fp8 operands is
// accumulated in f32, and both scales are applied to the accumulator.
//
//   s_x[r]    = amax_i |x[r, i]| / fp8_max          (1 for a row without a finite non-zero value)
//   q_x[r, i] = fp8(x[r, i] / s_x[r])               (f32 division, saturating round-to-nearest-even cast)
//   y[r, o]   = (s_x[r] · s_w[o]) · Σ_i q_x[r, i] · q_w[o, i] + bias[o]
//
// x's rows are its leading dimensions flattened; fp8_max is the weight format's largest finite value (448 for
// f8_e4m3fn, 57344 for f8_e5m2); s_x follows vram/fp8_scaling.h's rule for weight rows (non-finite values are
// left out of the amax), so activations and weights are quantized alike.
//
// Shapes: x [..., in] (rank >= 1), weight [out, in], weight_scale [out] (optional: an undefined Tensor means
// all ones, e.g. a plain-cast fp8 weight), bias [out] (optional) -> y [..., out]. Dtypes: x f32 / bf16 / f16;
// weight f8_e4m3fn / f8_e5m2; weight_scale f32; bias f32 / bf16 / f16. y has x's dtype.
// Precision: the products of two fp8 values are exact in f32 and accumulate in f32; the scale product, its
// multiplication and the bias are f32; y is rounded to its dtype once. The CPU kernel is the reference of the
// CUDA kernel (which differs only in the accumulation order), so the emulated device reproduces the GPU's
// numerics. Against the unquantized product the error is the fp8 rounding of both operands: docs/vram.md
// ("Precision") gives the measured relative error.
#pragma once

#include "core/tensor.h"

namespace vramkit::ops {

Tensor fp8_linear(const Tensor& x, const Tensor& weight, const Tensor& weight_scale = Tensor(),
                  const Tensor& bias = Tensor());

}  // namespace vramkit::ops
