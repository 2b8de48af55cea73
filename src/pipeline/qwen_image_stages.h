// The sizes one Qwen-Image generation runs at, and what follows from them for the VRAM manager: the activation
// workspace each model reserves from the budget, and each model's plan (Pipeline::plan, `vramkit plan`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "models/qwen_image/dit.h"
#include "models/qwen_image/text_encoder.h"
#include "models/qwen_image/vae.h"
#include "vramkit/pipeline.h"

namespace vramkit {

struct GenerationSizes {
  std::int64_t batch = 1;           // 2 with CFG: both branches in one batch
  std::int64_t encoder_tokens = 0;  // the text encoder's input length (templated prompts, padded to the longest)
  std::int64_t text_tokens = 0;     // the transformer's text length (after the template's drop and the crop)
  bool text_mask = false;           // the prompts differ in length: padded, with a key mask
  std::int64_t latent_height = 0;   // H/8
  std::int64_t latent_width = 0;    // W/8
  int steps = 0;

  std::int64_t image_tokens() const { return (latent_height / 2) * (latent_width / 2); }
};

// From the options (already checked) and the templated prompts' token counts (one, or two with CFG).
GenerationSizes generation_sizes(const GenerateOptions& options, const std::vector<std::size_t>& prompt_tokens);

qwen_image::VaeDecodeOptions decode_options(const GenerateOptions& options);

// Sets each model's workspace (ManagedModel::set_workspace_bytes) for a generation of these sizes: the
// activations of its forward (models/qwen_image/*_workspace.h) plus the tensors the pipeline holds across the
// stage (the modulation table, the latents, the prompt embeddings); and its forward passes
// (ManagedModel::announce_passes: one for the text encoder and the modulation, one per step for the
// transformer), so that streaming stops after the last. The VAE decoder keeps its own reservation (one tile),
// chooses between one pass and tiles when it decodes and announces those passes itself.
void prepare_for_generation(qwen_image::QwenImageTextEncoder& text_encoder,
                            qwen_image::QwenImageDit& transformer, const GenerationSizes& sizes);

// The plan of every model for a generation of these sizes (after prepare_for_generation), in the order they
// run.
GenerationPlan plan_generation(qwen_image::QwenImageTextEncoder& text_encoder, qwen_image::QwenImageDit& transformer,
                               qwen_image::QwenImageVaeDecoder& vae, const GenerationSizes& sizes,
                               const GenerateOptions& options, const PlanOptions& plan_options);

}  // namespace vramkit
