// True classifier-free guidance as QwenImagePipeline applies it (spec §7.3):
//
//   comb = uncond + scale · (cond − uncond)
//   out  = comb · (‖cond‖ / ‖comb‖)        norms over the last dimension (per token), when `renorm`
//
// Each operation rounds to the inputs' dtype as PyTorch does on bf16 tensors (the norms are accumulated in
// f32 and then rounded), so bf16 runs follow the reference's arithmetic. Without renorm it is DiffSynth-
// Studio's plain CFG.
#pragma once

#include "core/tensor.h"

namespace vramkit::qwen_image {

// cond, uncond: [..., C] of one float dtype -> the same shape and dtype. ShapeError / DTypeError when they
// differ.
Tensor true_cfg(const Tensor& cond, const Tensor& uncond, float scale, bool renorm);

}  // namespace vramkit::qwen_image
