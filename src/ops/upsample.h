// Nearest-neighbour 2x upsampling over the last two dims: x [..., H, W] -> [..., 2H, 2W],
// out[..., i, j] = x[..., i / 2, j / 2]. This is also PyTorch's "nearest-exact" for an integer factor of 2
// (the VAE's Resample: floor((i + 0.5) / 2) = i / 2). Copies elements: any dtype, any strides, bit-exact;
// returns x's dtype.
#pragma once

#include "core/tensor.h"

namespace vramkit::ops {

Tensor upsample_nearest_2x(const Tensor& x);

}  // namespace vramkit::ops
