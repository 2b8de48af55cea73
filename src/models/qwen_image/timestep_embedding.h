// The sinusoidal timestep projection of the Qwen-Image transformer (diffusers Timesteps(num_channels=256,
// flip_sin_to_cos=True, downscale_freq_shift=0, scale=1000) via get_timestep_embedding):
//
//   freq_k = exp(−ln(10000) · k / half),  k = 0..half−1,  half = channels / 2
//   arg_k  = 1000 · (t · freq_k)
//   out    = [cos(arg_0..half−1), sin(arg_0..half−1)]     (cos first: flip_sin_to_cos)
//
// t is the model's `timestep` input, sigma in [0, 1]: the factor 1000 restores the scheduler's timestep.
// Arithmetic in f32 step by step as the reference does. The reference first casts the timestep to the
// activation dtype (`timestep.to(hidden_states.dtype)`), so t is rounded to `dtype` before use, and the
// result is returned in `dtype`.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace vramkit::qwen_image {

// timestep [B] (any float dtype) -> [B, channels] in `dtype`. ShapeError for another rank or an odd channel
// count.
Tensor timestep_projection(const Tensor& timestep, std::int64_t channels, DType dtype);

}  // namespace vramkit::qwen_image
