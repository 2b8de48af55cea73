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
  const std::int64_t head_dim = d.hidden_size / d.num_attention_heads;
  const std::int64_t kv = d.num_key_value_heads * head_dim;
  const std::int64_t H = d.hidden_size;
  SpecList s;
  s.add("model.embed_tokens.weight", {d.vocab_size, H});
  for (std::int64_t i = 0; i < d.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    s.add(p + "input_layernorm.weight", {H});
    s.add_with_bias(p + "self_attn.q_proj", {H, H});
    s.add_with_bias(p + "self_attn.k_proj", {kv, H});
    s.add_with_bias(p + "self_attn.v_proj", {kv, H});
    s.add(p + "self_attn.o_proj.weight", {H, H});
    s.add(p + "post_attention_layernorm.weight", {H});
    s.add(p + "mlp.gate_proj.weight", {d.intermediate_size, H});
    s.add(p + "mlp.up_proj.weight", {d.intermediate_size, H});
    s.add(p + "mlp.down_proj.weight", {H, d.intermediate_size});
  }
  s.add("model.norm.weight", {H});
  return s.take();
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
