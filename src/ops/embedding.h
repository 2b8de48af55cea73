// embedding: row lookup as nn.Embedding / F.embedding.
//
//   y[..., :] = table[indices[...], :]
//
// Shapes: indices [...] (any rank, rank 0 included), table [V, D] -> y [..., D].
// Dtypes: indices i32 / i64; table any float dtype (f32 / f16 / bf16 / f8_e4m3fn / f8_e5m2); y has the
// table's dtype and bit-identical rows. Any strides. An index outside [0, V) throws ArgumentError naming it
// and V.
#pragma once

#include "core/tensor.h"

namespace vramkit::ops {

Tensor embedding(const Tensor& indices, const Tensor& table);

}  // namespace vramkit::ops
