// The Qwen-Image text encoder (the language model of Qwen2.5-VL-7B-Instruct, transformers
// Qwen2_5_VLForConditionalGeneration): its text_encoder/config.json, the tensors a checkpoint of that config
// must hold, and the managed units in the order the forward pass uses them (spec §4).
//
// Only the language model is described: the checkpoint's vision tower (visual.*, or model.visual.* in the
// newer naming) and lm_head.* are not units, so they are never read. Every dimension comes from the config
// file, so the tiny test checkpoints and the 28-layer release share this code. The module list is in execution
// order (embed_tokens; per layer input_layernorm, q/k/v_proj, o_proj, post_attention_layernorm, gate/up/down_proj;
// the final norm) and doubles as the expected key set: a unit per Linear, norm and the embedding.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "io/model_files.h"
#include "models/module_list.h"
#include "vram/unit_layout.h"

namespace vramkit::qwen_image {

struct TextEncoderConfig {
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;
  std::int64_t intermediate_size = 0;
  // The defaults of transformers' Qwen2_5_VLTextConfig / Qwen2_5_VLRotaryEmbedding for absent keys (the
  // released file sets rms_norm_eps 1e-6, rope_theta 1e6, mrope_section [16, 24, 24]).
  double rms_norm_eps = 1e-5;
  double rope_theta = 1e6;
  // How many rotary frequencies take the temporal / height / width position; irrelevant for text (the three
  // positions are equal) but checked, as transformers' split would fail on a wrong sum.
  std::array<std::int64_t, 3> mrope_section{16, 24, 24};

  std::int64_t head_dim() const { return hidden_size / num_attention_heads; }
  std::int64_t kv_dim() const { return num_key_value_heads * head_dim(); }

  // Reads text_encoder/config.json in either form transformers writes:
  //   flat (4.x): the text keys at the top level, rope_theta and rope_scaling {type/rope_type, mrope_section};
  //   nested (5.x): the text keys under "text_config" (then only there, as transformers reads them), the rope
  //   under rope_parameters {rope_type, rope_theta, mrope_section} (rope_scaling, when present, wins, as in
  //   transformers' conversion).
  // The six dimensions are required (FormatError naming the file and the key). Unsupported settings
  // (hidden_act other than silu, use_sliding_window, a rope type other than default/mrope) are ArgumentErrors;
  // inconsistent ones (hidden size not a multiple of the heads, query heads not a multiple of the kv heads, an
  // odd head dim, mrope_section not summing to head_dim / 2, head_dim given and different) FormatErrors.
  static TextEncoderConfig from_json_file(const std::filesystem::path& path);
};

// The two key namings of the language model's tensors.
enum class TextEncoderKeyNaming {
  legacy,          // model.embed_tokens, model.layers.{i}, model.norm: the diffusers Qwen-Image checkpoint
  language_model,  // model.language_model.embed_tokens, ...: transformers >= 4.52 save_pretrained, DiffSynth
};
// "model." or "model.language_model.".
std::string text_encoder_key_prefix(TextEncoderKeyNaming naming);
// language_model when any tensor name starts with "model.language_model.", else legacy.
TextEncoderKeyNaming detect_text_encoder_key_naming(const WeightFiles& files);

// The leaf modules in execution order.
std::vector<ModuleSpec> text_encoder_modules(const TextEncoderConfig& config, TextEncoderKeyNaming naming);
// The VRAM-manager units: every module but the embedding, whose rows are looked up on the host
// (text_encoder.h).
std::vector<UnitSpec> text_encoder_units(const TextEncoderConfig& config, TextEncoderKeyNaming naming);
std::int64_t text_encoder_parameter_count(const TextEncoderConfig& config);

// True for the checkpoint tensors the text encoder never loads: the vision tower (visual.*, model.visual.*)
// and the language-model head (lm_head.*).
bool is_unused_text_encoder_tensor(std::string_view name);

// Throws FormatError, before anything is allocated, when `files` does not hold exactly the expected tensors
// (besides the unused ones) with the expected shapes, listing every missing, unexpected and mis-shaped tensor
// in one message.
void validate_text_encoder_weights(const TextEncoderConfig& config, TextEncoderKeyNaming naming,
                                   const WeightFiles& files);

}  // namespace vramkit::qwen_image
