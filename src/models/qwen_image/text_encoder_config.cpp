// The Qwen-Image text encoder's config and key set; see text_encoder_config.h.
#include "models/qwen_image/text_encoder_config.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

using nlohmann::json;

class ConfigReader {
 public:
  explicit ConfigReader(const std::filesystem::path& path) : path_(path) {}

  // `where` names the object in messages ("text_config." or "").
  std::int64_t required_int(const json& j, const std::string& where, const char* key) const {
    if (!j.contains(key) || j.at(key).is_null())
      throw FormatError(path_.string() + ": the text encoder config lacks " + where + key);
    return positive_int(j.at(key), where + key);
  }
  std::int64_t positive_int(const json& v, const std::string& key) const {
    if (!v.is_number_integer() || v.get<std::int64_t>() <= 0)
      throw FormatError(path_.string() + ": " + key + " must be a positive integer, got " + v.dump());
    return v.get<std::int64_t>();
  }
  double positive_number(const json& j, const std::string& where, const char* key, double fallback) const {
    if (!j.contains(key) || j.at(key).is_null()) return fallback;
    const json& v = j.at(key);
    if (!v.is_number() || !(v.get<double>() > 0))
      throw FormatError(path_.string() + ": " + where + key + " must be a positive number, got " + v.dump());
    return v.get<double>();
  }
  [[noreturn]] void inconsistent(const std::string& what) const {
    throw FormatError(path_.string() + ": " + what);
  }
  [[noreturn]] void unsupported(const std::string& what) const {
    throw ArgumentError(path_.string() + ": " + what +
                        " is not supported (only the Qwen2.5-VL language model as Qwen-Image uses it is)");
  }

 private:
  const std::filesystem::path& path_;
};

void read_rope(const ConfigReader& r, const json& text, const std::string& where, TextEncoderConfig& c) {
  // transformers: rope_parameters = rope_scaling or rope_parameters; rope_theta defaults to the key beside.
  const char* params_key = text.contains("rope_scaling") && !text.at("rope_scaling").is_null() ? "rope_scaling"
                           : text.contains("rope_parameters") && !text.at("rope_parameters").is_null()
                               ? "rope_parameters"
                               : nullptr;
  c.rope_theta = r.positive_number(text, where, "rope_theta", c.rope_theta);
  if (!params_key) return;
  const json& params = text.at(params_key);
  const std::string p = where + params_key + ".";
  if (!params.is_object()) r.inconsistent(where + params_key + " must be an object, got " + params.dump());
  c.rope_theta = r.positive_number(params, p, "rope_theta", c.rope_theta);
  for (const char* type_key : {"rope_type", "type"}) {
    if (!params.contains(type_key)) continue;
    const json& type = params.at(type_key);
    if (type != "default" && type != "mrope") r.unsupported(p + type_key + " = " + type.dump());
  }
  if (params.contains("mrope_section")) {
    const json& section = params.at("mrope_section");
    if (!section.is_array() || section.size() != 3)
      r.inconsistent(p + "mrope_section must be a list of 3 integers, got " + section.dump());
    for (std::size_t i = 0; i < 3; ++i) {
      if (!section[i].is_number_integer() || section[i].get<std::int64_t>() < 0)
        r.inconsistent(p + "mrope_section must hold non-negative integers, got " + section.dump());
      c.mrope_section[i] = section[i].get<std::int64_t>();
    }
  }
}

}  // namespace

TextEncoderConfig TextEncoderConfig::from_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot open the text encoder config " + path.string());
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw FormatError(path.string() + " is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw FormatError(path.string() + ": the text encoder config must be a JSON object");
  const ConfigReader r(path);
  const bool nested = j.contains("text_config") && !j.at("text_config").is_null();
  if (nested && !j.at("text_config").is_object())
    r.inconsistent("text_config must be an object, got " + j.at("text_config").dump());
  const json& text = nested ? j.at("text_config") : j;
  const std::string where = nested ? "text_config." : "";

  TextEncoderConfig c;
  c.vocab_size = r.required_int(text, where, "vocab_size");
  c.hidden_size = r.required_int(text, where, "hidden_size");
  c.num_hidden_layers = r.required_int(text, where, "num_hidden_layers");
  c.num_attention_heads = r.required_int(text, where, "num_attention_heads");
  c.num_key_value_heads = r.required_int(text, where, "num_key_value_heads");
  c.intermediate_size = r.required_int(text, where, "intermediate_size");
  c.rms_norm_eps = r.positive_number(text, where, "rms_norm_eps", c.rms_norm_eps);
  read_rope(r, text, where, c);

  if (text.contains("hidden_act") && text.at("hidden_act") != "silu")
    r.unsupported(where + "hidden_act = " + text.at("hidden_act").dump());
  if (text.contains("use_sliding_window") && !text.at("use_sliding_window").is_null() &&
      text.at("use_sliding_window") != false)
    r.unsupported(where + "use_sliding_window = " + text.at("use_sliding_window").dump());
  if (c.hidden_size % c.num_attention_heads != 0)
    r.inconsistent(where + "hidden_size " + std::to_string(c.hidden_size) + " is not a multiple of " +
                   "num_attention_heads " + std::to_string(c.num_attention_heads));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    r.inconsistent(where + "num_attention_heads " + std::to_string(c.num_attention_heads) +
                   " is not a multiple of num_key_value_heads " + std::to_string(c.num_key_value_heads));
  if (c.head_dim() % 2 != 0) r.inconsistent("the head dim " + std::to_string(c.head_dim()) + " is odd");
  // The attention takes hidden_size / heads whatever head_dim says, the rotary embedding head_dim: they must
  // agree.
  if (text.contains("head_dim") && !text.at("head_dim").is_null() &&
      r.positive_int(text.at("head_dim"), where + "head_dim") != c.head_dim())
    r.inconsistent(where + "head_dim " + text.at("head_dim").dump() + " differs from hidden_size / " +
                   "num_attention_heads = " + std::to_string(c.head_dim()));
  if (c.mrope_section[0] + c.mrope_section[1] + c.mrope_section[2] != c.head_dim() / 2)
    r.inconsistent("mrope_section [" + std::to_string(c.mrope_section[0]) + ", " +
                   std::to_string(c.mrope_section[1]) + ", " + std::to_string(c.mrope_section[2]) +
                   "] must sum to head_dim / 2 = " + std::to_string(c.head_dim() / 2));
  return c;
}

std::string text_encoder_key_prefix(TextEncoderKeyNaming naming) {
  return naming == TextEncoderKeyNaming::legacy ? "model." : "model.language_model.";
}

TextEncoderKeyNaming detect_text_encoder_key_naming(const WeightFiles& files) {
  for (const WeightTensor& t : files.tensors())
    if (t.name().rfind("model.language_model.", 0) == 0) return TextEncoderKeyNaming::language_model;
  return TextEncoderKeyNaming::legacy;
}

std::vector<ModuleSpec> text_encoder_modules(const TextEncoderConfig& c, TextEncoderKeyNaming naming) {
  const std::string prefix = text_encoder_key_prefix(naming);
  const std::int64_t hidden = c.hidden_size;
  ModuleListBuilder m;
  m.embedding(prefix + "embed_tokens", c.vocab_size, hidden);
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = prefix + "layers." + std::to_string(i) + ".";
    m.norm(p + "input_layernorm", hidden);
    m.linear(p + "self_attn.q_proj", hidden, hidden);
    m.linear(p + "self_attn.k_proj", c.kv_dim(), hidden);
    m.linear(p + "self_attn.v_proj", c.kv_dim(), hidden);
    m.linear_without_bias(p + "self_attn.o_proj", hidden, hidden);
    m.norm(p + "post_attention_layernorm", hidden);
    m.linear_without_bias(p + "mlp.gate_proj", c.intermediate_size, hidden);
    m.linear_without_bias(p + "mlp.up_proj", c.intermediate_size, hidden);
    m.linear_without_bias(p + "mlp.down_proj", hidden, c.intermediate_size);
  }
  m.norm(prefix + "norm", hidden);
  return m.take();
}

std::vector<UnitSpec> text_encoder_units(const TextEncoderConfig& config, TextEncoderKeyNaming naming) {
  std::vector<ModuleSpec> modules = text_encoder_modules(config, naming);
  modules.erase(modules.begin());  // the embedding, first in execution order
  return units_of(modules);
}

std::int64_t text_encoder_parameter_count(const TextEncoderConfig& config) {
  return parameter_count(text_encoder_modules(config, TextEncoderKeyNaming::legacy));
}

bool is_unused_text_encoder_tensor(std::string_view name) {
  for (const std::string_view prefix : {"visual.", "model.visual.", "lm_head."})
    if (name.substr(0, prefix.size()) == prefix) return true;
  return false;
}

void validate_text_encoder_weights(const TextEncoderConfig& config, TextEncoderKeyNaming naming,
                                   const WeightFiles& files) {
  validate_module_weights(
      text_encoder_modules(config, naming), files,
      "Qwen-Image text encoder weights in " + files.describe() + " do not match its config (" +
          std::to_string(config.num_hidden_layers) + " layers, hidden size " + std::to_string(config.hidden_size) +
          ", vocabulary " + std::to_string(config.vocab_size) + ", " +
          (naming == TextEncoderKeyNaming::legacy ? "model.layers.*" : "model.language_model.layers.*") +
          " names)",
      is_unused_text_encoder_tensor);
}

}  // namespace vramkit::qwen_image
