#include "models/qwen_image/dit_config.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

std::int64_t read_int(const nlohmann::json& j, const std::filesystem::path& path, const char* key,
                      std::int64_t fallback) {
  if (!j.contains(key)) return fallback;
  const auto& v = j.at(key);
  if (!v.is_number_integer() || v.get<std::int64_t>() <= 0)
    throw FormatError(path.string() + ": " + key + " must be a positive integer, got " + v.dump());
  return v.get<std::int64_t>();
}

void require_false(const nlohmann::json& j, const std::filesystem::path& path, const char* key) {
  if (j.contains(key) && !j.at(key).is_null() && j.at(key) != false)
    throw ArgumentError(path.string() + ": " + key + " = " + j.at(key).dump() +
                        " is not supported (only the Qwen-Image text-to-image transformer is)");
}

class ModuleList {
 public:
  void linear(const std::string& name, std::int64_t out, std::int64_t in, bool timestep_only = false) {
    modules_.push_back({name, {{name + ".weight", {out, in}}, {name + ".bias", {out}}}, timestep_only});
  }
  void norm(const std::string& name, std::int64_t dim) {
    modules_.push_back({name, {{name + ".weight", {dim}}}, false});
  }
  std::vector<DitModule> take() { return std::move(modules_); }

 private:
  std::vector<DitModule> modules_;
};

}  // namespace

DitConfig DitConfig::from_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot open the transformer config " + path.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path.string() + " is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw FormatError(path.string() + ": the transformer config must be a JSON object");
  DitConfig c;
  c.patch_size = read_int(j, path, "patch_size", c.patch_size);
  c.in_channels = read_int(j, path, "in_channels", c.in_channels);
  c.out_channels = read_int(j, path, "out_channels", c.out_channels);
  c.num_layers = read_int(j, path, "num_layers", c.num_layers);
  c.attention_head_dim = read_int(j, path, "attention_head_dim", c.attention_head_dim);
  c.num_attention_heads = read_int(j, path, "num_attention_heads", c.num_attention_heads);
  c.joint_attention_dim = read_int(j, path, "joint_attention_dim", c.joint_attention_dim);
  if (j.contains("axes_dims_rope")) {
    const auto& axes = j.at("axes_dims_rope");
    if (!axes.is_array() || axes.size() != 3)
      throw FormatError(path.string() + ": axes_dims_rope must be a list of 3 integers, got " + axes.dump());
    for (std::size_t i = 0; i < 3; ++i) {
      if (!axes[i].is_number_integer() || axes[i].get<std::int64_t>() <= 0 || axes[i].get<std::int64_t>() % 2)
        throw FormatError(path.string() + ": axes_dims_rope entries must be positive even integers, got " +
                          axes.dump());
      c.axes_dims_rope[i] = axes[i].get<std::int64_t>();
    }
  }
  if (c.axes_dims_rope[0] + c.axes_dims_rope[1] + c.axes_dims_rope[2] != c.attention_head_dim)
    throw FormatError(path.string() + ": axes_dims_rope must sum to attention_head_dim " +
                      std::to_string(c.attention_head_dim));
  for (const char* key : {"guidance_embeds", "zero_cond_t", "use_additional_t_cond", "use_layer3d_rope"})
    require_false(j, path, key);
  return c;
}

std::vector<DitModule> dit_modules(const DitConfig& c) {
  const std::int64_t d = c.inner_dim();
  ModuleList m;
  m.linear("img_in", d, c.in_channels);
  m.norm("txt_norm", c.joint_attention_dim);
  m.linear("txt_in", d, c.joint_attention_dim);
  m.linear("time_text_embed.timestep_embedder.linear_1", d, DitConfig::kTimestepChannels, true);
  m.linear("time_text_embed.timestep_embedder.linear_2", d, d, true);
  for (std::int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "transformer_blocks." + std::to_string(i) + ".";
    m.linear(p + "img_mod.1", 6 * d, d, true);
    m.linear(p + "txt_mod.1", 6 * d, d, true);
    for (const char* proj : {"to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj"})
      m.linear(p + "attn." + proj, d, d);
    for (const char* norm : {"norm_q", "norm_k", "norm_added_q", "norm_added_k"})
      m.norm(p + "attn." + norm, c.attention_head_dim);
    m.linear(p + "attn.to_out.0", d, d);
    m.linear(p + "attn.to_add_out", d, d);
    for (const char* mlp : {"img_mlp", "txt_mlp"}) {
      m.linear(p + mlp + ".net.0.proj", c.ffn_dim(), d);
      m.linear(p + mlp + ".net.2", d, c.ffn_dim());
    }
  }
  m.linear("norm_out.linear", 2 * d, d, true);
  m.linear("proj_out", c.out_features(), d);
  return m.take();
}

std::vector<UnitSpec> dit_units(const DitConfig& config, DitUnitGroup group) {
  std::vector<UnitSpec> units;
  for (const DitModule& module : dit_modules(config)) {
    if ((group == DitUnitGroup::modulation && !module.timestep_only) ||
        (group == DitUnitGroup::token_streams && module.timestep_only))
      continue;
    UnitSpec& u = units.emplace_back(UnitSpec{module.name, {}});
    for (const ExpectedTensor& t : module.tensors) u.tensors.push_back(t.name);
  }
  return units;
}

std::int64_t dit_parameter_count(const DitConfig& config) {
  std::int64_t n = 0;
  for (const DitModule& module : dit_modules(config))
    for (const ExpectedTensor& t : module.tensors) n += t.shape.numel();
  return n;
}

void validate_dit_weights(const DitConfig& config, const WeightFiles& files) {
  std::vector<ExpectedTensor> expected;
  for (const DitModule& module : dit_modules(config))
    expected.insert(expected.end(), module.tensors.begin(), module.tensors.end());
  check_expected_weights("Qwen-Image transformer weights in " + files.describe() + " do not match its config (" +
                             std::to_string(config.num_layers) + " layers, inner dim " +
                             std::to_string(config.inner_dim()) + ")",
                         expected, {}, files);
}

}  // namespace vramkit::qwen_image
