#include "models/qwen_image/dit.h"

#include <vector>

#include "io/model_folder.h"
#include "models/activation_meter.h"
#include "models/qwen_image/dit_block.h"
#include "models/qwen_image/dit_workspace.h"
#include "ops/elementwise.h"
#include "ops/layout.h"
#include "ops/norm.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

void check_inputs(const DitConfig& c, const DitInputs& in) {
  const auto fail = [&](const std::string& what) {
    throw ShapeError("Qwen-Image transformer forward: hidden_states " + in.hidden_states.str() +
                     ", encoder_hidden_states " + in.encoder_hidden_states.str() + ", timestep " +
                     in.timestep.str() + ", grid " + std::to_string(in.grid[0]) + "x" +
                     std::to_string(in.grid[1]) + "x" + std::to_string(in.grid[2]) + ": " + what);
  };
  const Tensor& x = in.hidden_states;
  const Tensor& e = in.encoder_hidden_states;
  if (x.rank() != 3 || x.size(2) != c.in_channels)
    fail("hidden_states must be [B, N, " + std::to_string(c.in_channels) + "]");
  if (e.rank() != 3 || e.size(0) != x.size(0) || e.size(2) != c.joint_attention_dim)
    fail("encoder_hidden_states must be [B, L, " + std::to_string(c.joint_attention_dim) + "]");
  if (in.timestep.rank() != 1 || in.timestep.size(0) != x.size(0)) fail("timestep must be [B]");
  if (in.grid[0] <= 0 || in.grid[1] <= 0 || in.grid[2] <= 0 ||
      in.grid[0] * in.grid[1] * in.grid[2] != x.size(1))
    fail("the grid must be positive and hold N = frames·height·width tokens");
  if (in.encoder_mask.defined() && (in.encoder_mask.rank() != 2 || in.encoder_mask.size(0) != e.size(0) ||
                                    in.encoder_mask.size(1) != e.size(1)))
    fail("encoder_mask " + in.encoder_mask.str() + " must be [B, L]");
}

}  // namespace

QwenImageDit::QwenImageDit(VramManager& manager, DitConfig config, std::shared_ptr<const WeightFiles> files,
                           const VramConfig& vram, ModelOptions options)
    : config_(config) {
  validate_dit_weights(config_, *files);
  modulation_ = manager.add_model("transformer.modulation", files, dit_units(config_, DitUnitGroup::modulation),
                                  vram, options);
  std::vector<UnitSpec> units = dit_units(config_, DitUnitGroup::token_streams);
  if (manager.options().block_units) units = group_block_units(units, "transformer_blocks.");
  model_ = manager.add_model("transformer", std::move(files), std::move(units), vram, std::move(options));
}

void QwenImageDit::offload() {
  modulation_->offload();
  model_->offload();
}

DitModulation QwenImageDit::precompute_modulation(const Tensor& timesteps) {
  DitModulation m = compute_dit_modulation(*modulation_, config_, timesteps, computation_dtype());
  modulation_->offload();
  return m;
}

std::unique_ptr<QwenImageDit> QwenImageDit::open(VramManager& manager, const std::filesystem::path& folder,
                                                 const VramConfig& vram, ModelOptions options) {
  const std::filesystem::path component =
      ModelFolder::is_model_folder(folder) ? folder / "transformer" : folder;
  const DitConfig config = DitConfig::from_json_file(component / "config.json");
  auto files = std::make_shared<const WeightFiles>(WeightFiles::open(component));
  return std::make_unique<QwenImageDit>(manager, config, std::move(files), vram, std::move(options));
}

void QwenImageDit::reserve_workspace(const DitInputs& in) {
  check_inputs(config_, in);
  const DType dtype = computation_dtype();
  const std::int64_t batch = in.hidden_states.size(0);
  const std::int64_t n_img = in.hidden_states.size(1), n_txt = in.encoder_hidden_states.size(1);
  // On the device beside the activations: this batch's modulation rows and the inputs.
  const ActivationMeter meter(dtype);
  model_->reserve_workspace(
      dit_modulation_table_bytes(config_, batch, dtype) + meter.act(batch * n_img * config_.in_channels) +
      meter.act(batch * n_txt * config_.joint_attention_dim) +
      dit_forward_workspace_bytes(config_, batch, n_img, n_txt, in.encoder_mask.defined(), dtype,
                                  op_kernels_of(*model_)));
}

Tensor QwenImageDit::forward(const DitInputs& in, const DitModulation* precomputed) {
  check_inputs(config_, in);
  const DType dtype = computation_dtype();
  const std::int64_t n_img = in.hidden_states.size(1), n_txt = in.encoder_hidden_states.size(1);
  const DitModulation modulation = precomputed
                                       ? precomputed->rows_for(in.timestep)
                                       : compute_dit_modulation(*modulation_, config_, in.timestep, dtype);
  reserve_workspace(in);
  if (!model_->onloaded()) model_->onload();
  UnitCursor units(*model_);

  const Device device = units.device();
  Tensor x = units.linear("img_in", ops::to_device(in.hidden_states, device, dtype));
  Tensor c = units.rms_norm("txt_norm", ops::to_device(in.encoder_hidden_states, device, dtype),
                            DitConfig::kNormEps);
  c = units.linear("txt_in", c);

  ops::QwenImageRopeConfig rope_config;
  rope_config.axes_dim = config_.axes_dims_rope;
  rope_config.theta = DitConfig::kRopeTheta;
  const ops::QwenImageRope host_rope =
      ops::qwen_image_rope(in.grid[0], in.grid[1], in.grid[2], n_txt, rope_config);
  const ops::QwenImageRope rope{ops::to_device(host_rope.image, device),
                                ops::to_device(host_rope.text, device)};
  JointKeys keys;
  if (in.encoder_mask.defined()) {
    keys = joint_keys(ops::to_host(in.encoder_mask), n_img);
    if (keys.mask.defined()) keys.mask = ops::to_device(keys.mask, device);
  }

  const BlockContext ctx{config_, modulation, rope, keys};
  for (std::int64_t i = 0; i < config_.num_layers; ++i) run_block(units, ctx, i, x, c);

  // AdaLayerNormContinuous: the projection holds scale then shift.
  const Tensor& e = modulation.output;
  const std::int64_t dim = config_.inner_dim();
  const Tensor scale = e.slice(1, 0, dim).unsqueeze(1), shift = e.slice(1, dim, 2 * dim).unsqueeze(1);
  x = ops::layer_norm_modulate(x, shift, scale, DitConfig::kNormEps);
  return ops::to_host(ops::cast(units.linear("proj_out", x), DType::f32));
}

}  // namespace vramkit::qwen_image
