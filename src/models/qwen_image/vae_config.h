// The Qwen-Image VAE (diffusers AutoencoderKLQwenImage, a fine-tuned Wan-2.1 causal 3-D VAE): its
// vae/config.json, the tensors a checkpoint of that config holds, and the managed units of its two halves
// (decoder, encoder) in the order their forward passes use them (spec §6).
//
// One checkpoint holds both halves; each is a separate managed model, so a text-to-image pipeline onloads
// only the decoder. A unit is one convolution (weight + bias) or one norm (gamma). The temporal convolutions
// of the 3-D resamplers (time_conv) are in the checkpoint but never run on a single frame (the reference skips
// them for the first chunk), so they are expected tensors without a unit.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "io/model_files.h"
#include "models/module_list.h"
#include "vram/unit_layout.h"

namespace vramkit::qwen_image {

struct VaeConfig {
  std::int64_t base_dim = 96;
  std::int64_t z_dim = 16;
  std::vector<std::int64_t> dim_mult{1, 2, 4, 4};
  std::int64_t num_res_blocks = 2;
  std::vector<bool> temperal_downsample{false, true, true};  // (sic) the reference's spelling
  std::int64_t input_channels = 3;
  // Per latent channel (z_dim values): the pipeline decodes z·std + mean and encodes (mean_z − mean) / std.
  std::vector<double> latents_mean{-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                                   0.4134,  -0.0715, 0.5517,  -0.3632, -0.1922, -0.9497, 0.2503, -0.2921};
  std::vector<double> latents_std{2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                                  3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160};

  // Pixels per latent along H and W: one factor 2 per resampling stage.
  std::int64_t spatial_factor() const { return std::int64_t{1} << temperal_downsample.size(); }
  // Channels per decoder stage: base_dim · [dim_mult.back(), reversed dim_mult...] (diffusers' `dims`).
  std::vector<std::int64_t> decoder_dims() const;
  // Channels per encoder stage: base_dim · [1, dim_mult...].
  std::vector<std::int64_t> encoder_dims() const;

  // Reads vae/config.json. Keys absent from the file take the class defaults (those above). FormatError naming
  // the file and key for a wrong type or value (non-positive sizes, temperal_downsample not one entry per
  // resampling stage, latents_mean/std not z_dim numbers, a std <= 0); ArgumentError for what the reference
  // allows but this implementation does not run (attention in the encoder's down blocks: attn_scales
  // non-empty).
  static VaeConfig from_json_file(const std::filesystem::path& path);
};

// One leaf module of the VAE.
struct VaeModule {
  std::string name;  // "decoder.up_blocks.1.resnets.0.conv1"
  std::vector<ExpectedTensor> tensors;
  bool video_only = false;  // a 3-D resampler's time_conv: in the checkpoint, never run on a single frame
};

enum class VaePart { decoder, encoder };
const char* vae_part_name(VaePart part);  // "decoder" / "encoder"

// Leaf modules in execution order. Decoder: post_quant_conv, decoder.conv_in, mid block, up blocks, norm_out,
// conv_out. Encoder: encoder.conv_in, down blocks, mid block, norm_out, conv_out, quant_conv. In a residual
// block the shortcut convolution comes first (the reference computes it before norm1).
std::vector<VaeModule> vae_modules(const VaeConfig& config, VaePart part);
// The same as VRAM-manager units (video-only modules left out).
std::vector<UnitSpec> vae_units(const VaeConfig& config, VaePart part);

// Throws FormatError, before anything is allocated, listing every tensor of `part` missing from `files`, every
// tensor of `files` that belongs to neither half and every mis-shaped one. A file may hold the other half or
// not (decoder-only files load as a decoder).
void validate_vae_weights(const VaeConfig& config, VaePart part, const WeightFiles& files);

}  // namespace vramkit::qwen_image
