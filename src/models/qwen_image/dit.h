// The Qwen-Image transformer (MMDiT, diffusers QwenImageTransformer2DModel) with every weight streamed
// through the VRAM manager: one managed unit per leaf module (dit_config.h lists them in execution order),
// each acquired right before use and released right after, so at most two leases are held at once.
//
// It is two managed models over the same files: "transformer.modulation", the timestep-only modules
// (dit_modulation.h), and "transformer", the rest. A forward given a precomputed modulation table runs only
// the second; without one it computes its batch's modulation first.
//
// Activations are in the model's computation dtype (f32 or bf16; the VramConfig's computation dtype); the
// output is returned in f32. The order of operations is the reference's (spec §2.3-2.5).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "core/tensor.h"
#include "models/qwen_image/dit_config.h"
#include "models/qwen_image/dit_modulation.h"
#include "vram/managed_model.h"
#include "vram/manager.h"

namespace vramkit::qwen_image {

struct DitInputs {
  Tensor hidden_states;          // [B, frames·height·width, in_channels] packed latents (pack_latents)
  Tensor encoder_hidden_states;  // [B, L, joint_attention_dim] text embeddings
  Tensor timestep;               // [B] sigma in [0, 1]; the model multiplies by 1000 (timestep_embedding.h)
  Tensor encoder_mask;           // optional [B, L] bool/u8/i32/i64/float, non-zero = a real text token
  std::array<std::int64_t, 3> grid{1, 0, 0};  // (frames, height, width) of the latent in 2x2 patches
};

class QwenImageDit {
 public:
  // Validates the weights against `config` (FormatError listing every problem) before registering the model
  // with the manager; nothing is loaded until onload().
  QwenImageDit(VramManager& manager, DitConfig config, std::shared_ptr<const WeightFiles> files,
               const VramConfig& vram, ModelOptions options = {});
  // `folder` is a diffusers model folder (its transformer/ is used) or the transformer folder itself
  // (config.json and the safetensors files or their index).
  static std::unique_ptr<QwenImageDit> open(VramManager& manager, const std::filesystem::path& folder,
                                            const VramConfig& vram, ModelOptions options = {});

  const DitConfig& config() const { return config_; }
  ManagedModel& managed() { return *model_; }
  ManagedModel& managed_modulation() { return *modulation_; }
  DType computation_dtype() const { return model_->config().computation.dtype.dtype; }

  // onload(): the token-stream model; the modulation model is onloaded when first needed (precompute_modulation,
  // or a forward without a table), so that the pipeline can run it alone on the device. offload(): both.
  void onload() { model_->onload(); }
  void offload();

  // The modulation for every timestep of a schedule [S], in one pass over its weights. The modulation model
  // is offloaded afterwards, leaving the budget to the token streams.
  DitModulation precompute_modulation(const Tensor& timesteps);

  // Reserves the device memory of a forward on `in` from the token-stream model's budget (ManagedModel::
  // reserve_workspace). forward() does it itself; calling it first shows the plan that forward will run.
  void reserve_workspace(const DitInputs& in);

  // -> [B, frames·height·width, patch²·out_channels] f32. Onloads the token-stream model first if needed.
  // With `modulation` (from precompute_modulation) the timesteps must be among its rows; without, the
  // modulation of this batch is computed first. ShapeError when the inputs disagree with each other, the
  // grid or the config.
  Tensor forward(const DitInputs& inputs, const DitModulation* modulation = nullptr);

 private:
  DitConfig config_;
  std::unique_ptr<ManagedModel> modulation_;
  std::unique_ptr<ManagedModel> model_;
};

}  // namespace vramkit::qwen_image
