// The activation workspace of the Qwen-Image transformer: the bytes a forward keeps alive at its peak (what the
// VRAM planner reserves next to the weights), and the bytes of a precomputed modulation table.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "models/activation_meter.h"
#include "models/qwen_image/dit_config.h"

namespace vramkit::qwen_image {

// Peak bytes one QwenImageDit::forward allocates for a batch of `batch` with `image_tokens` packed latent
// tokens and `text_tokens` text tokens (with a text mask or not), activations in `dtype`, given a precomputed
// modulation table (its rows for the batch are counted, the table itself is dit_modulation_table_bytes).
// Walks the forward as dit.cpp and dit_block.cpp run it, with activation_meter.h's op costs for `kernels`;
// the inputs themselves are not counted.
std::uint64_t dit_forward_workspace_bytes(const DitConfig& config, std::int64_t batch,
                                          std::int64_t image_tokens, std::int64_t text_tokens, bool text_mask,
                                          DType dtype, OpKernels kernels = {});

// Bytes of the modulation of `steps` timesteps (DitModulation: per block the image and text rows, the output
// norm's rows), the table the pipeline keeps through the denoising loop.
std::uint64_t dit_modulation_table_bytes(const DitConfig& config, std::int64_t steps, DType dtype);

// Peak bytes compute_dit_modulation allocates for `steps` timesteps (the table it returns among them).
std::uint64_t dit_modulation_workspace_bytes(const DitConfig& config, std::int64_t steps, DType dtype,
                                             OpKernels kernels = {});

}  // namespace vramkit::qwen_image
