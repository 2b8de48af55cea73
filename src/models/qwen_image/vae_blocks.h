// Internal pieces of the Qwen-Image VAE forward passes (vae.cpp): its building blocks on one frame, each
// taking its weights through the UnitCursor in the order vae_config.h declares (spec §6.2).
//
// A single frame with an empty feature cache is all an image needs, so activations are 4-D [B, C, H, W]:
// a causal 3-D convolution over one frame sees [0, …, 0, x] in time and equals conv2d with its last
// temporal tap (ops/conv.h), which is what these blocks compute; a 1x1x1 convolution is the 1x1 conv2d of its
// only tap. Activations stay in the dtype they come in (the model's computation dtype).
#pragma once

#include <string>

#include "core/tensor.h"
#include "models/unit_cursor.h"

namespace vramkit::qwen_image::vae {

// A QwenImageCausalConv3d with kernel (kt, k, k), stride 1, padding (k-1)/2, on one frame.
Tensor causal_conv(UnitCursor& units, const std::string& name, const Tensor& x);
// QwenImageRMS_norm (channel-first, with the unit's gamma).
Tensor rms_norm(UnitCursor& units, const std::string& name, const Tensor& x);
// QwenImageResidualBlock: (shortcut or identity)(x) + conv2(SiLU(norm2(conv1(SiLU(norm1(x)))))); the shortcut is
// a 1x1x1 convolution when in != out.
Tensor residual_block(UnitCursor& units, const std::string& name, const Tensor& x, bool has_shortcut);
// QwenImageAttentionBlock: single-head self-attention over the H·W pixels, scale 1/√C, plus the input.
Tensor attention_block(UnitCursor& units, const std::string& name, const Tensor& x);
// QwenImageMidBlock: resnets.0, attentions.0, resnets.1.
Tensor mid_block(UnitCursor& units, const std::string& name, const Tensor& x);
// The spatial half of a QwenImageResample "upsample2d/3d": nearest 2x, then the 3x3 conv `name`.resample.1
// (C -> C/2); the 3d variant's time_conv does not run on the first frame.
Tensor upsample(UnitCursor& units, const std::string& name, const Tensor& x);
// The spatial half of "downsample2d/3d": zero padding of one row at the bottom and one column at the right,
// then the 3x3 stride-2 conv `name`.resample.1.
Tensor downsample(UnitCursor& units, const std::string& name, const Tensor& x);

}  // namespace vramkit::qwen_image::vae
