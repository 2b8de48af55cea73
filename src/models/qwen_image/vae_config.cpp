#include "models/qwen_image/vae_config.h"

#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

using nlohmann::json;

class VaeConfigReader {
 public:
  VaeConfigReader(const json& j, const std::filesystem::path& path) : j_(j), path_(path.string()) {}

  std::int64_t positive_int(const char* key, std::int64_t fallback) const {
    if (!j_.contains(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_number_integer() || v.get<std::int64_t>() <= 0) fail(key, "a positive integer", v);
    return v.get<std::int64_t>();
  }
  std::vector<std::int64_t> positive_ints(const char* key, std::vector<std::int64_t> fallback) const {
    if (!j_.contains(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_array() || v.empty()) fail(key, "a non-empty list of positive integers", v);
    std::vector<std::int64_t> out;
    for (const json& e : v) {
      if (!e.is_number_integer() || e.get<std::int64_t>() <= 0) fail(key, "a non-empty list of positive integers", v);
      out.push_back(e.get<std::int64_t>());
    }
    return out;
  }
  std::vector<bool> bools(const char* key, std::vector<bool> fallback) const {
    if (!j_.contains(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_array()) fail(key, "a list of booleans", v);
    std::vector<bool> out;
    for (const json& e : v) {
      if (!e.is_boolean()) fail(key, "a list of booleans", v);
      out.push_back(e.get<bool>());
    }
    return out;
  }
  std::vector<double> numbers(const char* key, std::vector<double> fallback, std::size_t count) const {
    const std::string expected = "a list of " + std::to_string(count) + " numbers (one per latent channel)";
    if (!j_.contains(key)) {
      if (fallback.size() != count) fail(key, expected + "; it is absent and z_dim is not the default 16", json());
      return fallback;
    }
    const json& v = j_.at(key);
    if (!v.is_array() || v.size() != count) fail(key, expected, v);
    std::vector<double> out;
    for (const json& e : v) {
      if (!e.is_number()) fail(key, expected, v);
      out.push_back(e.get<double>());
    }
    return out;
  }
  [[noreturn]] void fail(const char* key, const std::string& expected, const json& got) const {
    throw FormatError(path_ + ": " + key + " must be " + expected + (got.is_null() ? "" : ", got " + got.dump()));
  }

 private:
  const json& j_;
  std::string path_;
};

class VaeModuleList {
 public:
  // A convolution with its bias; `shape` is the weight's ([Cout, Cin, kt, kh, kw] or [Cout, Cin, kh, kw]).
  void conv(const std::string& name, Shape shape, bool video_only = false) {
    const std::int64_t out = shape[0];
    modules_.push_back({name, {{name + ".weight", std::move(shape)}, {name + ".bias", {out}}}, video_only});
  }
  // QwenImageRMS_norm: gamma [C, 1, 1, 1] (images=False) or [C, 1, 1] (images=True, the attention's).
  void norm(const std::string& name, std::int64_t dim, bool images = false) {
    modules_.push_back({name, {{name + ".gamma", images ? Shape{dim, 1, 1} : Shape{dim, 1, 1, 1}}}, false});
  }
  void residual_block(const std::string& p, std::int64_t in, std::int64_t out) {
    if (in != out) conv(p + ".conv_shortcut", {out, in, 1, 1, 1});
    norm(p + ".norm1", in);
    conv(p + ".conv1", {out, in, 3, 3, 3});
    norm(p + ".norm2", out);
    conv(p + ".conv2", {out, out, 3, 3, 3});
  }
  void mid_block(const std::string& p, std::int64_t dim) {
    residual_block(p + ".resnets.0", dim, dim);
    norm(p + ".attentions.0.norm", dim, /*images=*/true);
    conv(p + ".attentions.0.to_qkv", {3 * dim, dim, 1, 1});
    conv(p + ".attentions.0.proj", {dim, dim, 1, 1});
    residual_block(p + ".resnets.1", dim, dim);
  }
  std::vector<VaeModule> take() { return std::move(modules_); }

 private:
  std::vector<VaeModule> modules_;
};

}  // namespace

std::vector<std::int64_t> VaeConfig::decoder_dims() const {
  std::vector<std::int64_t> dims{base_dim * dim_mult.back()};
  for (auto it = dim_mult.rbegin(); it != dim_mult.rend(); ++it) dims.push_back(base_dim * *it);
  return dims;
}

std::vector<std::int64_t> VaeConfig::encoder_dims() const {
  std::vector<std::int64_t> dims{base_dim};
  for (std::int64_t m : dim_mult) dims.push_back(base_dim * m);
  return dims;
}

VaeConfig VaeConfig::from_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot open the VAE config " + path.string());
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw FormatError(path.string() + " is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw FormatError(path.string() + ": the VAE config must be a JSON object");
  if (j.contains("_class_name") && j.at("_class_name") != "AutoencoderKLQwenImage")
    throw ArgumentError(path.string() + ": _class_name " + j.at("_class_name").dump() +
                        " is not supported (only AutoencoderKLQwenImage is)");
  const VaeConfigReader r(j, path);
  VaeConfig c;
  c.base_dim = r.positive_int("base_dim", c.base_dim);
  c.z_dim = r.positive_int("z_dim", c.z_dim);
  c.dim_mult = r.positive_ints("dim_mult", c.dim_mult);
  c.num_res_blocks = r.positive_int("num_res_blocks", c.num_res_blocks);
  c.input_channels = r.positive_int("input_channels", c.input_channels);
  c.temperal_downsample = r.bools("temperal_downsample", c.temperal_downsample);
  if (c.temperal_downsample.size() + 1 != c.dim_mult.size())
    r.fail("temperal_downsample", "one boolean per resampling stage (" + std::to_string(c.dim_mult.size() - 1) + ")",
           j.value("temperal_downsample", json()));
  // Each decoder upsampler halves its stage's channels, which the next stage takes as input.
  for (std::int64_t d : c.decoder_dims())
    if (d % 2) r.fail("base_dim", "such that every stage has an even channel count", j.value("base_dim", json()));
  const auto count = static_cast<std::size_t>(c.z_dim);
  c.latents_mean = r.numbers("latents_mean", c.latents_mean, count);
  c.latents_std = r.numbers("latents_std", c.latents_std, count);
  for (double s : c.latents_std)
    if (!(s > 0)) r.fail("latents_std", "positive", j.at("latents_std"));
  if (j.contains("attn_scales") && !(j.at("attn_scales").is_array() && j.at("attn_scales").empty()))
    throw ArgumentError(path.string() + ": attn_scales = " + j.at("attn_scales").dump() +
                        " is not supported (attention blocks in the encoder's down blocks; Qwen-Image has none)");
  return c;
}

const char* vae_part_name(VaePart part) { return part == VaePart::decoder ? "decoder" : "encoder"; }

std::vector<VaeModule> vae_modules(const VaeConfig& c, VaePart part) {
  VaeModuleList m;
  const std::size_t stages = c.dim_mult.size();
  if (part == VaePart::decoder) {
    const std::vector<std::int64_t> dims = c.decoder_dims();
    m.conv("post_quant_conv", {c.z_dim, c.z_dim, 1, 1, 1});
    m.conv("decoder.conv_in", {dims[0], c.z_dim, 3, 3, 3});
    m.mid_block("decoder.mid_block", dims[0]);
    for (std::size_t i = 0; i < stages; ++i) {
      // Every upsampler halves the channels, so the stages after the first start at half their nominal width.
      std::int64_t in = i > 0 ? dims[i] / 2 : dims[i];
      const std::int64_t out = dims[i + 1];
      const std::string p = "decoder.up_blocks." + std::to_string(i);
      for (std::int64_t r = 0; r <= c.num_res_blocks; ++r, in = out)
        m.residual_block(p + ".resnets." + std::to_string(r), in, out);
      if (i + 1 == stages) continue;
      m.conv(p + ".upsamplers.0.resample.1", {out / 2, out, 3, 3});
      // The decoder's temporal upsampling is temperal_downsample reversed.
      if (c.temperal_downsample[stages - 2 - i])
        m.conv(p + ".upsamplers.0.time_conv", {2 * out, out, 3, 1, 1}, /*video_only=*/true);
    }
    m.norm("decoder.norm_out", dims.back());
    m.conv("decoder.conv_out", {c.input_channels, dims.back(), 3, 3, 3});
  } else {
    const std::vector<std::int64_t> dims = c.encoder_dims();
    m.conv("encoder.conv_in", {dims[0], c.input_channels, 3, 3, 3});
    int index = 0;  // down_blocks is one flat list of residual blocks and resamplers
    for (std::size_t i = 0; i < stages; ++i) {
      std::int64_t in = dims[i];
      const std::int64_t out = dims[i + 1];
      for (std::int64_t r = 0; r < c.num_res_blocks; ++r, in = out)
        m.residual_block("encoder.down_blocks." + std::to_string(index++), in, out);
      if (i + 1 == stages) continue;
      const std::string p = "encoder.down_blocks." + std::to_string(index++);
      m.conv(p + ".resample.1", {out, out, 3, 3});
      if (c.temperal_downsample[i]) m.conv(p + ".time_conv", {out, out, 3, 1, 1}, /*video_only=*/true);
    }
    m.mid_block("encoder.mid_block", dims.back());
    m.norm("encoder.norm_out", dims.back());
    m.conv("encoder.conv_out", {2 * c.z_dim, dims.back(), 3, 3, 3});
    m.conv("quant_conv", {2 * c.z_dim, 2 * c.z_dim, 1, 1, 1});
  }
  return m.take();
}

std::vector<UnitSpec> vae_units(const VaeConfig& config, VaePart part) {
  std::vector<UnitSpec> units;
  for (const VaeModule& module : vae_modules(config, part)) {
    if (module.video_only) continue;
    UnitSpec& u = units.emplace_back(UnitSpec{module.name, {}});
    for (const ExpectedTensor& t : module.tensors) u.tensors.push_back(t.name);
  }
  return units;
}

void validate_vae_weights(const VaeConfig& config, VaePart part, const WeightFiles& files) {
  // The other half's tensors may be in the files (one checkpoint holds both); this part never loads them.
  const VaePart other = part == VaePart::decoder ? VaePart::encoder : VaePart::decoder;
  std::vector<ModuleSpec> modules;
  for (const VaeModule& module : vae_modules(config, part)) modules.push_back({module.name, module.tensors});
  std::set<std::string, std::less<>> other_half;
  for (const VaeModule& module : vae_modules(config, other))
    for (const ExpectedTensor& t : module.tensors) other_half.insert(t.name);
  validate_module_weights(modules, files,
                          "Qwen-Image VAE " + std::string(vae_part_name(part)) + " weights in " + files.describe() +
                              " do not match its config (base_dim " + std::to_string(config.base_dim) + ", z_dim " +
                              std::to_string(config.z_dim) + ", " + std::to_string(config.dim_mult.size()) +
                              " stages, " + std::to_string(config.num_res_blocks) + " residual blocks per stage)",
                          [&](std::string_view name) { return other_half.count(name) > 0; });
}

}  // namespace vramkit::qwen_image
