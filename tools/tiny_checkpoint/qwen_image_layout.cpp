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

std::vector<TensorSpec> vae_tensors(const qwen_image::VaeConfig& config) {
  std::vector<TensorSpec> specs;
  for (const auto part : {qwen_image::VaePart::encoder, qwen_image::VaePart::decoder})
    for (const auto& module : qwen_image::vae_modules(config, part))
      for (const auto& t : module.tensors)
        specs.push_back({t.name, {t.shape.dims().begin(), t.shape.dims().end()}});
  return specs;
}

}  // namespace vramkit::tools
