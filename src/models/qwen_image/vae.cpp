#include "models/qwen_image/vae.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "core/human_bytes.h"
#include "io/model_folder.h"
#include "models/qwen_image/vae_blocks.h"
#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/placement.h"
#include "vramkit/error.h"
#include "vramkit/log.h"

namespace vramkit::qwen_image {
namespace {

struct Component {
  VaeConfig config;
  std::shared_ptr<const WeightFiles> files;
};

Component open_component(const std::filesystem::path& folder) {
  const std::filesystem::path vae = ModelFolder::is_model_folder(folder) ? folder / "vae" : folder;
  return {VaeConfig::from_json_file(vae / "config.json"), std::make_shared<const WeightFiles>(WeightFiles::open(vae))};
}

// The caller's options, with the workspace `bytes` unless set, and no GEMM weights unless a predicate is
// given: the VAE has no linears (its convs, 1x1 ones included, read their weights through leases with
// ops::conv2d), so ManagerOptions::native_fp8_gemm must not hand it any weight in fp8.
ModelOptions with_vae_defaults(ModelOptions options, std::uint64_t bytes) {
  if (options.workspace_bytes == 0) options.workspace_bytes = bytes;
  if (!options.gemm_weight) options.gemm_weight = [](const WeightTensor&) { return false; };
  return options;
}

DType computation_dtype_of(const VramConfig& vram) { return vram.resolve().computation.dtype.dtype; }

// x / (1/s) + m (denormalize) or (x − m)·(1/s) (normalize) per channel, in f32 with the f32 reciprocal the
// pipelines compute (1.0 / torch.tensor(latents_std)).
Tensor scale_latents(const VaeConfig& config, const Tensor& z, bool denormalize) {
  if (z.rank() < 2 || z.size(1) != config.z_dim)
    throw ShapeError(std::string(denormalize ? "denormalize_latents" : "normalize_latents") + ": z " + z.str() +
                     " must be [B, " + std::to_string(config.z_dim) + ", ...]");
  Tensor out = z.to(DType::f32);
  const std::int64_t batch = z.size(0), channels = z.size(1), inner = z.numel() / std::max<std::int64_t>(1, batch * channels);
  float* o = out.data_as<float>();
  for (std::int64_t c = 0; c < channels; ++c) {
    const auto mean = static_cast<float>(config.latents_mean[static_cast<std::size_t>(c)]);
    const float inv_std = 1.0f / static_cast<float>(config.latents_std[static_cast<std::size_t>(c)]);
    for (std::int64_t b = 0; b < batch; ++b) {
      float* p = o + (b * channels + c) * inner;
      for (std::int64_t i = 0; i < inner; ++i) p[i] = denormalize ? p[i] / inv_std + mean : (p[i] - mean) * inv_std;
    }
  }
  return out;
}

void check_latent(const VaeConfig& config, const Tensor& z) {
  if (z.rank() != 5 || z.size(1) != config.z_dim || z.size(2) != 1 || z.size(0) < 1 || z.size(3) < 1 ||
      z.size(4) < 1)
    throw ShapeError("Qwen-Image VAE decode: z " + z.str() + " must be [B, " + std::to_string(config.z_dim) +
                     ", 1, h, w] (one frame)");
  if (!is_floating(z.dtype()))
    throw DTypeError("Qwen-Image VAE decode: z " + z.str() + " must be a float tensor");
}

}  // namespace

Tensor denormalize_latents(const VaeConfig& config, const Tensor& z) { return scale_latents(config, z, true); }
Tensor normalize_latents(const VaeConfig& config, const Tensor& z) { return scale_latents(config, z, false); }

// ---- decoder

QwenImageVaeDecoder::QwenImageVaeDecoder(VramManager& manager, VaeConfig config,
                                         std::shared_ptr<const WeightFiles> files, const VramConfig& vram,
                                         ModelOptions options)
    : manager_(manager), config_(std::move(config)) {
  validate_vae_weights(config_, VaePart::decoder, *files);
  const VaeTiling tile;
  options = with_vae_defaults(
      std::move(options),
      vae_decode_workspace_bytes(config_, 1, tile.tile, tile.tile, computation_dtype_of(vram),
                                 OpKernels{.device = manager.device_kernels()}));
  model_ = manager.add_model("vae_decoder", std::move(files), vae_units(config_, VaePart::decoder), vram,
                             std::move(options));
}

std::unique_ptr<QwenImageVaeDecoder> QwenImageVaeDecoder::open(VramManager& manager,
                                                               const std::filesystem::path& folder,
                                                               const VramConfig& vram, ModelOptions options) {
  Component c = open_component(folder);
  return std::make_unique<QwenImageVaeDecoder>(manager, std::move(c.config), std::move(c.files), vram,
                                               std::move(options));
}

VaeDecodePlan QwenImageVaeDecoder::plan(std::int64_t batch, std::int64_t height, std::int64_t width,
                                        const VaeDecodeOptions& options) {
  std::uint64_t onload_bytes = 0;  // what this model's onload still takes from the arena
  if (!model_->onloaded()) {
    const Plan p = model_->make_plan();
    onload_bytes = p.resident_bytes + p.ring_bytes;
  }
  Accelerator& acc = manager_.accelerator();
  const std::uint64_t free = acc.memory_info().free_bytes;
  std::optional<std::uint64_t> available = free > onload_bytes ? free - onload_bytes : 0;
  if (const auto& limit = manager_.options().vram_limit) {
    const std::uint64_t used = acc.device_allocator()->allocated_bytes() + onload_bytes;
    available = std::min<std::uint64_t>(*available, *limit > used ? *limit - used : 0);
  }
  return plan_vae_decode(config_, batch, height, width, computation_dtype(), op_kernels_of(*model_),
                         available, options);
}

VaeDecodePlan QwenImageVaeDecoder::plan(const Tensor& z, const VaeDecodeOptions& options) {
  check_latent(config_, z);
  return plan(z.size(0), z.size(3), z.size(4), options);
}

Tensor QwenImageVaeDecoder::run(const Tensor& z) {
  UnitCursor units(*model_);
  Tensor x = vae::causal_conv(units, "post_quant_conv", z);
  x = vae::causal_conv(units, "decoder.conv_in", x);
  x = vae::mid_block(units, "decoder.mid_block", x);
  const std::vector<std::int64_t> dims = config_.decoder_dims();
  const std::size_t stages = config_.dim_mult.size();
  for (std::size_t i = 0; i < stages; ++i) {
    const std::string p = "decoder.up_blocks." + std::to_string(i);
    for (std::int64_t r = 0; r <= config_.num_res_blocks; ++r)
      x = vae::residual_block(units, p + ".resnets." + std::to_string(r), x, x.size(1) != dims[i + 1]);
    if (i + 1 < stages) x = vae::upsample(units, p + ".upsamplers.0", x);
  }
  x = vae::rms_norm(units, "decoder.norm_out", x);
  x = ops::silu(x);
  return vae::causal_conv(units, "decoder.conv_out", x);
}

Tensor QwenImageVaeDecoder::decode(const Tensor& z, const VaeDecodeOptions& options) {
  const VaeDecodePlan p = plan(z, options);
  model_->announce_passes(p.passes());
  if (!model_->onloaded()) model_->onload();
  if (p.over_budget())
    log_warn("vae_decoder: decoding z " + z.str() + " needs about " + human_bytes(p.workspace_bytes) +
             " of activations per pass, more than the " + human_bytes(*p.available_bytes) +
             " the VRAM budget leaves");
  const Tensor x = ops::to_device(z.select(2, 0), model_->device(), computation_dtype());
  const std::int64_t height = x.size(2), width = x.size(3), factor = config_.spatial_factor();
  Tensor image;
  if (!p.tiled) {
    image = ops::to_host(ops::cast(run(x), DType::f32));
  } else {
    std::vector<std::vector<Tensor>> tiles(p.rows.size());
    for (std::size_t r = 0; r < p.rows.size(); ++r)
      for (const std::int64_t c : p.columns) {
        const Tensor tile = x.slice(2, p.rows[r], std::min(p.rows[r] + p.tiling.tile, height))
                                .slice(3, c, std::min(c + p.tiling.tile, width));
        tiles[r].push_back(ops::to_host(ops::cast(run(tile), DType::f32)));
      }
    image = blend_decoded_tiles(tiles, p, factor, height, width);
  }
  return ops::clamp(image, -1.0, 1.0).unsqueeze(2);
}

// ---- encoder

QwenImageVaeEncoder::QwenImageVaeEncoder(VramManager& manager, VaeConfig config,
                                         std::shared_ptr<const WeightFiles> files, const VramConfig& vram,
                                         ModelOptions options)
    : config_(std::move(config)) {
  validate_vae_weights(config_, VaePart::encoder, *files);
  options = with_vae_defaults(std::move(options),
                              vae_encode_workspace_bytes(config_, 1, 1024, 1024, computation_dtype_of(vram),
                                                         OpKernels{.device = manager.device_kernels()}));
  model_ = manager.add_model("vae_encoder", std::move(files), vae_units(config_, VaePart::encoder), vram,
                             std::move(options));
}

std::unique_ptr<QwenImageVaeEncoder> QwenImageVaeEncoder::open(VramManager& manager,
                                                               const std::filesystem::path& folder,
                                                               const VramConfig& vram, ModelOptions options) {
  Component c = open_component(folder);
  return std::make_unique<QwenImageVaeEncoder>(manager, std::move(c.config), std::move(c.files), vram,
                                               std::move(options));
}

Tensor QwenImageVaeEncoder::encode(const Tensor& image) {
  const std::int64_t f = config_.spatial_factor();
  if (!is_floating(image.dtype()))
    throw DTypeError("Qwen-Image VAE encode: image " + image.str() + " must be a float tensor");
  if (image.rank() != 5 || image.size(1) != config_.input_channels || image.size(2) != 1 || image.size(0) < 1 ||
      image.size(3) < f || image.size(4) < f || image.size(3) % f || image.size(4) % f)
    throw ShapeError("Qwen-Image VAE encode: image " + image.str() + " must be [B, " +
                     std::to_string(config_.input_channels) + ", 1, H, W] (one frame) with H and W multiples of " +
                     std::to_string(f));
  if (!model_->onloaded()) model_->onload();
  UnitCursor units(*model_);
  Tensor x = vae::causal_conv(units, "encoder.conv_in",
                              ops::to_device(image.select(2, 0), model_->device(), computation_dtype()));
  const std::vector<std::int64_t> dims = config_.encoder_dims();
  const std::size_t stages = config_.dim_mult.size();
  int index = 0;  // down_blocks is one flat list of residual blocks and resamplers
  for (std::size_t i = 0; i < stages; ++i) {
    for (std::int64_t r = 0; r < config_.num_res_blocks; ++r)
      x = vae::residual_block(units, "encoder.down_blocks." + std::to_string(index++), x, x.size(1) != dims[i + 1]);
    if (i + 1 < stages) x = vae::downsample(units, "encoder.down_blocks." + std::to_string(index++), x);
  }
  x = vae::mid_block(units, "encoder.mid_block", x);
  x = vae::rms_norm(units, "encoder.norm_out", x);
  x = ops::silu(x);
  x = vae::causal_conv(units, "encoder.conv_out", x);
  x = vae::causal_conv(units, "quant_conv", x);
  // The posterior's mean: the first z_dim channels (the others are its log-variance).
  return ops::to_host(ops::cast(x.slice(1, 0, config_.z_dim), DType::f32)).unsqueeze(2);
}

}  // namespace vramkit::qwen_image
