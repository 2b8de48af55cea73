// The Qwen-Image VAE (diffusers AutoencoderKLQwenImage) on single images: the decoder (latent -> image,
// untiled or in blended tiles under the VRAM budget) and the encoder (image -> latent mean), two managed
// models over one checkpoint so that a pipeline onloads only the half it runs. Every weight is streamed
// through the VRAM manager, one unit per convolution or norm (vae_config.h), in execution order.
//
// Activations are in the model's computation dtype (f32 or bf16); inputs and outputs are f32. Only one frame
// (T = 1) is supported: for it the causal 3-D convolutions reduce to 2-D ones and the temporal resampling
// does not run (spec §6.2), which is what the reference computes for an image.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "core/tensor.h"
#include "models/qwen_image/vae_config.h"
#include "models/qwen_image/vae_tiling.h"
#include "vram/managed_model.h"
#include "vram/manager.h"

namespace vramkit::qwen_image {

// The pipeline's latent scaling with the config's per-channel values, for z [B, z_dim, ...] (f32, any
// strides) -> f32, computed in f32 as the diffusers pipelines write it:
//   denormalize (before decode):  z / (1 / std) + mean
//   normalize (after encode):     (z − mean) · (1 / std)
// ShapeError when dim 1 is not z_dim.
Tensor denormalize_latents(const VaeConfig& config, const Tensor& z);
Tensor normalize_latents(const VaeConfig& config, const Tensor& z);

class QwenImageVaeDecoder {
 public:
  // Validates the decoder's weights (FormatError listing every problem) and registers the model "vae_decoder";
  // nothing is loaded until onload(). Without an explicit options.workspace_bytes the planner reserves the
  // workspace of one default tile (256 x 256 pixels, batch 1), so that tiled decoding always has room.
  QwenImageVaeDecoder(VramManager& manager, VaeConfig config, std::shared_ptr<const WeightFiles> files,
                      const VramConfig& vram, ModelOptions options = {});
  // `folder` is a diffusers model folder (its vae/ is used) or the vae folder itself.
  static std::unique_ptr<QwenImageVaeDecoder> open(VramManager& manager, const std::filesystem::path& folder,
                                                   const VramConfig& vram, ModelOptions options = {});

  const VaeConfig& config() const { return config_; }
  ManagedModel& managed() { return *model_; }
  DType computation_dtype() const { return model_->config().computation.dtype.dtype; }
  void onload() { model_->onload(); }
  void offload() { model_->offload(); }

  // How decode() would run a latent of batch x height x width now: against the device memory left for
  // activations once this model is onloaded (the VRAM limit minus what the onloaded models hold and, when
  // this one is not onloaded yet, the resident units and staging ring its onload would take; at most the free
  // part of the device arena).
  VaeDecodePlan plan(std::int64_t batch, std::int64_t height, std::int64_t width,
                     const VaeDecodeOptions& options = {});
  // The plan for z [B, z_dim, 1, h, w]. Errors as decode().
  VaeDecodePlan plan(const Tensor& z, const VaeDecodeOptions& options = {});
  // z [B, z_dim, 1, h, w] (any float dtype; not denormalized: see denormalize_latents) -> f32 [B, C, 1, f·h,
  // f·w] clamped to [-1, 1], C = input_channels (3), f = spatial_factor (8). Plans first, then announces its
  // passes (one, or one per tile: ManagedModel::announce_passes) and onloads the model if needed, so that the
  // streaming stops after the last tile. ShapeError naming z's shape when it is not a single-frame latent of
  // z_dim channels, DTypeError when it is not a float tensor.
  Tensor decode(const Tensor& z, const VaeDecodeOptions& options = {});

 private:
  // The decoder on x [B, z_dim, h, w] in the computation dtype -> [B, C, f·h, f·w], unclamped.
  Tensor run(const Tensor& x);

  VramManager& manager_;
  VaeConfig config_;
  std::unique_ptr<ManagedModel> model_;
};

class QwenImageVaeEncoder {
 public:
  // As the decoder, with the encoder's weights and the model name "vae_encoder". The default workspace
  // reservation is that of a 1024 x 1024 image, batch 1 (the encoder is not tiled).
  QwenImageVaeEncoder(VramManager& manager, VaeConfig config, std::shared_ptr<const WeightFiles> files,
                      const VramConfig& vram, ModelOptions options = {});
  static std::unique_ptr<QwenImageVaeEncoder> open(VramManager& manager, const std::filesystem::path& folder,
                                                   const VramConfig& vram, ModelOptions options = {});

  const VaeConfig& config() const { return config_; }
  ManagedModel& managed() { return *model_; }
  DType computation_dtype() const { return model_->config().computation.dtype.dtype; }
  void onload() { model_->onload(); }
  void offload() { model_->offload(); }

  // image [B, C, 1, H, W] (any float dtype, values in [-1, 1]), H and W multiples of the spatial factor (8)
  // -> the posterior mean f32 [B, z_dim, 1, H/8, W/8] (not normalized: see normalize_latents). Onloads the
  // model if needed. ShapeError naming the image's shape otherwise, DTypeError for a non-float image.
  Tensor encode(const Tensor& image);

 private:
  VaeConfig config_;
  std::unique_ptr<ManagedModel> model_;
};

}  // namespace vramkit::qwen_image
