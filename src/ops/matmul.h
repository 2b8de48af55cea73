// matmul: (batched) matrix product as torch.matmul for operands of rank >= 2.
//
//   c[..., i, j] = Σ_k a[..., i, k] · b[..., k, j]
//
// Shapes: a [..., M, K], b [..., K, N] -> c [..., M, N]; the batch dimensions broadcast numpy-style (aligned
// from the right, missing or size-1 dimensions expand), so a 2-D b is shared by every batch entry of a.
// Dtypes: f32 / bf16 / f16, mixed allowed; c has a's dtype. f32 accumulation, one rounding to c's dtype.
// Any strides: f32 operands whose last two dimensions are row- or column-major (e.g. k.transpose(-1, -2)) are
// used without a copy.
#pragma once

#include "core/tensor.h"

namespace vramkit::ops {

Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace vramkit::ops
