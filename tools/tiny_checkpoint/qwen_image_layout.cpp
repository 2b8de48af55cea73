#include "qwen_image_layout.h"

namespace vramkit::tools {
namespace {

using Shape = std::vector<std::int64_t>;

class SpecList {
 public:
  void add(const std::string& name, Shape shape) { specs_.push_back({name, std::move(shape)}); }
  // A Linear (or conv) with a bias of its first dimension.
  void add_with_bias(const std::string& prefix, Shape weight_shape) {
    const std::int64_t out = weight_shape.front();
    add(prefix + ".weight", std::move(weight_shape));
    add(prefix + ".bias", {out});
  }
  std::vector<TensorSpec> take() { return std::move(specs_); }

 private:
  std::vector<TensorSpec> specs_;
};

// VAE building blocks, as in diffusers' autoencoder_kl_qwenimage.py.
void vae_residual_block(SpecList& s, const std::string& p, std::int64_t in, std::int64_t out) {
  s.add(p + ".norm1.gamma", {in, 1, 1, 1});
  s.add_with_bias(p + ".conv1", {out, in, 3, 3, 3});
  s.add(p + ".norm2.gamma", {out, 1, 1, 1});
  s.add_with_bias(p + ".conv2", {out, out, 3, 3, 3});
  if (in != out) s.add_with_bias(p + ".conv_shortcut", {out, in, 1, 1, 1});
}

void vae_attention_block(SpecList& s, const std::string& p, std::int64_t dim) {
  s.add(p + ".norm.gamma", {dim, 1, 1});
  s.add_with_bias(p + ".to_qkv", {3 * dim, dim, 1, 1});
  s.add_with_bias(p + ".proj", {dim, dim, 1, 1});
}

void vae_mid_block(SpecList& s, const std::string& p, std::int64_t dim) {
  vae_residual_block(s, p + ".resnets.0", dim, dim);
  vae_attention_block(s, p + ".attentions.0", dim);
  vae_residual_block(s, p + ".resnets.1", dim, dim);
}

void vae_encoder(SpecList& s, const VaeDims& d) {
  std::vector<std::int64_t> dims{d.base_dim};
  for (std::int64_t m : d.dim_mult) dims.push_back(d.base_dim * m);
  s.add_with_bias("encoder.conv_in", {dims.front(), 3, 3, 3, 3});
  int index = 0;  // down_blocks is one flat list of residual blocks and resamplers
  for (std::size_t stage = 0; stage + 1 < dims.size(); ++stage) {
    std::int64_t in = dims[stage];
    const std::int64_t out = dims[stage + 1];
    for (std::int64_t r = 0; r < d.num_res_blocks; ++r, in = out)
      vae_residual_block(s, "encoder.down_blocks." + std::to_string(index++), in, out);
    if (stage + 1 == d.dim_mult.size()) continue;
    const std::string p = "encoder.down_blocks." + std::to_string(index++);
    s.add_with_bias(p + ".resample.1", {out, out, 3, 3});
    if (d.temperal_downsample[stage]) s.add_with_bias(p + ".time_conv", {out, out, 3, 1, 1});
  }
  vae_mid_block(s, "encoder.mid_block", dims.back());
  s.add("encoder.norm_out.gamma", {dims.back(), 1, 1, 1});
  s.add_with_bias("encoder.conv_out", {2 * d.z_dim, dims.back(), 3, 3, 3});
  s.add_with_bias("quant_conv", {2 * d.z_dim, 2 * d.z_dim, 1, 1, 1});
}

void vae_decoder(SpecList& s, const VaeDims& d) {
  std::vector<std::int64_t> dims{d.base_dim * d.dim_mult.back()};
  for (auto it = d.dim_mult.rbegin(); it != d.dim_mult.rend(); ++it) dims.push_back(d.base_dim * *it);
  s.add_with_bias("post_quant_conv", {d.z_dim, d.z_dim, 1, 1, 1});
  s.add_with_bias("decoder.conv_in", {dims.front(), d.z_dim, 3, 3, 3});
  vae_mid_block(s, "decoder.mid_block", dims.front());
  for (std::size_t stage = 0; stage + 1 < dims.size(); ++stage) {
    // Every upsampler halves the channels, so the stages after the first start at half their nominal width.
    std::int64_t in = stage > 0 ? dims[stage] / 2 : dims[stage];
    const std::int64_t out = dims[stage + 1];
    const std::string p = "decoder.up_blocks." + std::to_string(stage);
    for (std::int64_t r = 0; r <= d.num_res_blocks; ++r, in = out)
      vae_residual_block(s, p + ".resnets." + std::to_string(r), in, out);
    if (stage + 1 == d.dim_mult.size()) continue;
    s.add_with_bias(p + ".upsamplers.0.resample.1", {out / 2, out, 3, 3});
    const bool temporal = d.temperal_downsample[d.temperal_downsample.size() - 1 - stage];
    if (temporal) s.add_with_bias(p + ".upsamplers.0.time_conv", {2 * out, out, 3, 1, 1});
  }
  s.add("decoder.norm_out.gamma", {dims.back(), 1, 1, 1});
  s.add_with_bias("decoder.conv_out", {3, dims.back(), 3, 3, 3});
}

}  // namespace

std::vector<TensorSpec> dit_tensors(const qwen_image::DitConfig& config) {
  std::vector<TensorSpec> specs;
  for (const auto& module : qwen_image::dit_modules(config))
    for (const auto& t : module.tensors) specs.push_back({t.name, {t.shape.dims().begin(), t.shape.dims().end()}});
  return specs;
}

std::vector<TensorSpec> text_encoder_tensors(const TextEncoderDims& d) {
  qwen_image::TextEncoderConfig config;
  config.vocab_size = d.vocab_size;
  config.hidden_size = d.hidden_size;
  config.num_hidden_layers = d.num_hidden_layers;
  config.num_attention_heads = d.num_attention_heads;
  config.num_key_value_heads = d.num_key_value_heads;
  config.intermediate_size = d.intermediate_size;
  std::vector<TensorSpec> specs;
  for (const auto& module : qwen_image::text_encoder_modules(config, qwen_image::TextEncoderKeyNaming::legacy))
    for (const auto& t : module.tensors) specs.push_back({t.name, {t.shape.dims().begin(), t.shape.dims().end()}});
  return specs;
}

std::vector<TensorSpec> vae_tensors(const VaeDims& d) {
  SpecList s;
  vae_encoder(s, d);
  vae_decoder(s, d);
  return s.take();
}

}  // namespace vramkit::tools
