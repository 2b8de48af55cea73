// The tensor names and shapes of Qwen-Image's three weighted components, derived from their dimensions the
// way the reference constructors build them (diffusers QwenImageTransformer2DModel and
// AutoencoderKLQwenImage, transformers Qwen2.5-VL language model with the legacy "model." key names that the
// diffusers checkpoint uses). With the full-size dimensions the lists match the released checkpoint
// (1933 DiT tensors, 194 VAE tensors); the tiny checkpoint uses the same code with small dimensions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/qwen_image/dit_config.h"
#include "models/qwen_image/text_encoder_config.h"
#include "models/qwen_image/vae_config.h"

namespace vramkit::tools {

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
};

struct TextEncoderDims {
  std::int64_t vocab_size = 152064;
  std::int64_t hidden_size = 3584;
  std::int64_t num_hidden_layers = 28;
  std::int64_t num_attention_heads = 28;
  std::int64_t num_key_value_heads = 4;
  std::int64_t intermediate_size = 18944;
};

// The DiT's tensors come from the model's own module list (models/qwen_image/dit_config.h), flattened.
std::vector<TensorSpec> dit_tensors(const qwen_image::DitConfig& config);
// The language model only, from the model's own module list (models/qwen_image/text_encoder_config.h, legacy
// names): embed_tokens, layers, final norm; lm_head and the vision tower are not listed.
std::vector<TensorSpec> text_encoder_tensors(const TextEncoderDims& d);
// The VAE's tensors (encoder, then decoder) come from the model's own module lists
// (models/qwen_image/vae_config.h), flattened.
std::vector<TensorSpec> vae_tensors(const qwen_image::VaeConfig& config);

}  // namespace vramkit::tools
