// The Qwen-Image transformer (diffusers QwenImageTransformer2DModel): its config.json, the tensors a
// checkpoint of that config must hold, and the managed units in the order the forward pass uses them.
//
// Every dimension comes from the config file, so the tiny test checkpoints and the 60-layer release share
// this code. The module list is written in execution order (diffusers' forward: img_in, txt_norm, txt_in,
// the timestep MLP, per block img_mod, txt_mod, the image then text q/k/v projections, the four q/k norms,
// to_out.0, to_add_out, the image then text MLP; then norm_out.linear and proj_out). It doubles as the
// expected key set: a unit per leaf module, each with its tensors and shapes.
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

struct DitConfig {
  std::int64_t patch_size = 2;
  std::int64_t in_channels = 64;
  std::int64_t out_channels = 16;
  std::int64_t num_layers = 60;
  std::int64_t attention_head_dim = 128;
  std::int64_t num_attention_heads = 24;
  std::int64_t joint_attention_dim = 3584;
  std::array<std::int64_t, 3> axes_dims_rope{16, 56, 56};

  // Fixed in the reference classes rather than configured.
  static constexpr std::int64_t kTimestepChannels = 256;  // Timesteps(num_channels=256)
  static constexpr double kNormEps = 1e-6;                // every LayerNorm / RMSNorm of the model
  static constexpr double kRopeTheta = 10000.0;

  std::int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
  std::int64_t ffn_dim() const { return 4 * inner_dim(); }  // FeedForward(mult=4)
  std::int64_t out_features() const { return patch_size * patch_size * out_channels; }

  // Reads transformer/config.json. Keys absent from the file take the class defaults (those above); a
  // non-integer value, an inconsistent axes_dims_rope (sum != head_dim, odd entries), guidance_embeds = true
  // or one of the Edit/Layered switches (zero_cond_t, use_additional_t_cond, use_layer3d_rope) set is an
  // ArgumentError / FormatError naming the file and the key.
  static DitConfig from_json_file(const std::filesystem::path& path);
};

// One leaf module: a managed unit (a ModuleSpec with the DiT's grouping).
struct DitModule {
  std::string name;  // "transformer_blocks.3.attn.to_q"
  std::vector<ExpectedTensor> tensors;
  // The module's input depends on the timestep alone (the timestep MLP, img_mod, txt_mod, norm_out.linear):
  // its outputs for every step of a schedule can be computed before the denoising loop (dit_modulation.h).
  bool timestep_only = false;
};

// The leaf modules in execution order.
std::vector<DitModule> dit_modules(const DitConfig& config);

// Which modules a managed model holds: the transformer runs as two managed models, the timestep-only modules
// (the modulation) and the rest (the blocks on the token streams), each in execution order.
enum class DitUnitGroup { all, modulation, token_streams };
std::vector<UnitSpec> dit_units(const DitConfig& config, DitUnitGroup group = DitUnitGroup::all);
std::int64_t dit_parameter_count(const DitConfig& config);

// Throws FormatError, before anything is allocated, when `files` does not hold exactly the expected tensors
// with the expected shapes, listing every missing, unexpected and mis-shaped tensor in one message.
void validate_dit_weights(const DitConfig& config, const WeightFiles& files);

}  // namespace vramkit::qwen_image
