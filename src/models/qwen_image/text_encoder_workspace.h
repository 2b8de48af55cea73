// The activation workspace of the Qwen-Image text encoder: the bytes a forward keeps alive at its peak, which
// the VRAM planner reserves next to the weights.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "models/activation_meter.h"
#include "models/qwen_image/text_encoder_config.h"

namespace vramkit::qwen_image {

// Peak bytes one QwenImageTextEncoder::forward allocates for input_ids [batch, length] (with an attention
// mask or not) with activations in `dtype`. Walks the forward as text_encoder.cpp runs it, with
// activation_meter.h's op costs for `kernels`; the inputs themselves are not counted.
std::uint64_t text_encoder_workspace_bytes(const TextEncoderConfig& config, std::int64_t batch,
                                           std::int64_t length, bool masked, DType dtype,
                                           OpKernels kernels = {});

}  // namespace vramkit::qwen_image
