#include "pipeline/qwen_image_stages.h"

#include <algorithm>

#include "core/human_bytes.h"
#include "models/activation_meter.h"
#include "models/qwen_image/dit_workspace.h"
#include "models/qwen_image/prompt.h"
#include "models/qwen_image/text_encoder_workspace.h"
#include "models/qwen_image/vae_tiling.h"

namespace vramkit {

using namespace qwen_image;

GenerationSizes generation_sizes(const GenerateOptions& o, const std::vector<std::size_t>& prompt_tokens) {
  GenerationSizes s;
  s.batch = static_cast<std::int64_t>(prompt_tokens.size());
  const std::size_t longest = *std::max_element(prompt_tokens.begin(), prompt_tokens.end());
  const std::size_t shortest = *std::min_element(prompt_tokens.begin(), prompt_tokens.end());
  s.encoder_tokens = static_cast<std::int64_t>(longest);
  const std::size_t kept = longest > kQwenImagePromptDropTokens ? longest - kQwenImagePromptDropTokens : 0;
  s.text_tokens = static_cast<std::int64_t>(std::min<std::size_t>(kept, static_cast<std::size_t>(o.max_sequence_length)));
  s.text_mask = shortest != longest;
  s.latent_height = o.height / 8;
  s.latent_width = o.width / 8;
  s.steps = o.steps;
  return s;
}

VaeDecodeOptions decode_options(const GenerateOptions& o) {
  VaeDecodeOptions d;
  d.tiling = o.vae_tiling == "always"  ? VaeTilingMode::always
             : o.vae_tiling == "never" ? VaeTilingMode::never
                                       : VaeTilingMode::automatic;
  return d;
}

void prepare_for_generation(QwenImageTextEncoder& text_encoder, QwenImageDit& transformer,
                            const GenerationSizes& s) {
  // The text encoder's input ids and mask (i64) and its activations.
  const DType text_dtype = text_encoder.computation_dtype();
  text_encoder.managed().set_workspace_bytes(
      static_cast<std::uint64_t>(s.batch * s.encoder_tokens) * 16 +
      text_encoder_workspace_bytes(text_encoder.config(), s.batch, s.encoder_tokens, true, text_dtype,
                                   op_kernels_of(text_encoder.managed())));

  // The transformer: the modulation pass over every step, then per step the forward, next to the modulation
  // table, the prompt embeddings (f32), the latents and their batch (the forward's own output is counted by it).
  const DitConfig& c = transformer.config();
  const DType dtype = transformer.computation_dtype();
  const ActivationMeter m(dtype);
  transformer.managed_modulation().set_workspace_bytes(
      dit_modulation_workspace_bytes(c, s.steps, dtype, op_kernels_of(transformer.managed_modulation())));
  const std::int64_t latents = s.image_tokens() * c.in_channels;
  const std::uint64_t held = dit_modulation_table_bytes(c, s.steps, dtype) +
                             ActivationMeter::f32(s.batch * s.text_tokens * c.joint_attention_dim) +
                             m.act(latents) + m.act(s.batch * latents);
  transformer.managed().set_workspace_bytes(
      held + dit_forward_workspace_bytes(c, s.batch, s.image_tokens(), s.text_tokens, s.text_mask, dtype,
                                         op_kernels_of(transformer.managed())));

  text_encoder.managed().announce_passes(1);
  transformer.managed_modulation().announce_passes(1);
  transformer.managed().announce_passes(s.steps);
}

namespace {

ModelPlan model_plan(const std::string& stage, int passes, const ManagedModel& model, const Plan& plan,
                     const PlanOptions& o) {
  ModelPlan p;
  p.model = model.name();
  p.stage = stage;
  p.config = model.config().str();
  p.passes = passes;
  p.units = plan.units.size();
  p.resident_units = plan.resident_count();
  p.resident_bytes = plan.resident_bytes;
  p.ring_bytes = plan.ring_bytes;
  p.workspace_bytes = plan.workspace_bytes;
  p.peak_device_bytes = plan.peak_device_bytes;
  p.over_limit_bytes = plan.over_limit_bytes;
  p.bytes_host_to_device_per_pass = plan.stream_bytes_per_forward;
  p.bytes_disk_to_host_per_pass = plan.disk_bytes_per_forward;
  p.table = plan.table(o.h2d_gbps, o.disk_gbps);
  p.totals = plan.totals(o.h2d_gbps, o.disk_gbps);
  return p;
}

}  // namespace

GenerationPlan plan_generation(QwenImageTextEncoder& text_encoder, QwenImageDit& transformer,
                               QwenImageVaeDecoder& vae, const GenerationSizes& s, const GenerateOptions& options,
                               const PlanOptions& o) {
  GenerationPlan g;
  const auto add = [&](const std::string& stage, int passes, const ManagedModel& model,
                       const Plan& plan) -> ModelPlan& {
    g.vram_limit = plan.vram_limit;
    return g.models.emplace_back(model_plan(stage, passes, model, plan, o));
  };
  add("text encoder", 1, text_encoder.managed(), text_encoder.managed().make_plan());
  add("denoise", 1, transformer.managed_modulation(), transformer.managed_modulation().make_plan());
  add("denoise", s.steps, transformer.managed(), transformer.managed().make_plan());

  // The VAE decodes in one pass or in tiles, whichever its activations leave room for (decode() chooses the
  // same way, against the budget left once its resident weights and ring are in place): its table shows the
  // activations of the decode chosen, not the one tile its onload reserves.
  Plan vae_plan = vae.managed().make_plan();
  const VaeDecodePlan d = vae.plan(1, s.latent_height, s.latent_width, decode_options(options));
  vae_plan.workspace_bytes = d.workspace_bytes;
  vae_plan.peak_device_bytes = vae_plan.resident_bytes + vae_plan.ring_bytes + d.workspace_bytes;
  ModelPlan& v = add("vae decode", 1, vae.managed(), vae_plan);
  v.passes = static_cast<int>(d.passes());
  if (d.tiled) {
    v.note = "decodes in " + std::to_string(d.rows.size()) + " x " + std::to_string(d.columns.size()) +
             " tiles of " + std::to_string(d.tiling.tile * 8) + " px (stride " + std::to_string(d.tiling.stride * 8) +
             " px), " + human_bytes(d.workspace_bytes) + " of activations each; one pass would need " +
             human_bytes(d.untiled_workspace_bytes);
  } else {
    v.note = "decodes in one pass, " + human_bytes(d.workspace_bytes) + " of activations";
  }
  if (d.over_budget()) v.note += " (more than the " + human_bytes(*d.available_bytes) + " the budget leaves)";
  return g;
}

std::uint64_t GenerationPlan::peak_device_bytes() const {
  std::uint64_t peak = 0;
  for (const ModelPlan& m : models) peak = std::max(peak, m.peak_device_bytes);
  return peak;
}

std::uint64_t GenerationPlan::bytes_host_to_device() const {
  std::uint64_t total = 0;
  for (const ModelPlan& m : models) total += static_cast<std::uint64_t>(m.passes) * m.bytes_host_to_device_per_pass;
  return total;
}

std::uint64_t GenerationPlan::bytes_disk_to_host() const {
  std::uint64_t total = 0;
  for (const ModelPlan& m : models) total += static_cast<std::uint64_t>(m.passes) * m.bytes_disk_to_host_per_pass;
  return total;
}

}  // namespace vramkit
