#include "models/qwen_image/tiny_model.h"

#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "io/safetensors.h"
#include "models/qwen_image/dit_config.h"
#include "models/qwen_image/text_encoder_config.h"
#include "models/qwen_image/tokenizer.h"
#include "models/qwen_image/vae_config.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
};

struct TextEncoderDims {
  std::int64_t vocab_size = 152064;
  std::int64_t hidden_size = 3584;
  std::int64_t num_hidden_layers = 28;
  std::int64_t num_attention_heads = 28;
  std::int64_t num_key_value_heads = 4;
  std::int64_t intermediate_size = 18944;
};

// The tensors of each component, from the models' own module lists (legacy names for the text encoder:
// embed_tokens, layers, final norm; no lm_head, no vision tower), flattened.
std::vector<TensorSpec> dit_tensors(const DitConfig& config) {
  std::vector<TensorSpec> specs;
  for (const auto& module : dit_modules(config))
    for (const auto& t : module.tensors) specs.push_back({t.name, {t.shape.dims().begin(), t.shape.dims().end()}});
  return specs;
}

std::vector<TensorSpec> text_encoder_tensors(const TextEncoderDims& d) {
  TextEncoderConfig config;
  config.vocab_size = d.vocab_size;
  config.hidden_size = d.hidden_size;
  config.num_hidden_layers = d.num_hidden_layers;
  config.num_attention_heads = d.num_attention_heads;
  config.num_key_value_heads = d.num_key_value_heads;
  config.intermediate_size = d.intermediate_size;
  std::vector<TensorSpec> specs;
  for (const auto& module : text_encoder_modules(config, TextEncoderKeyNaming::legacy))
    for (const auto& t : module.tensors) specs.push_back({t.name, {t.shape.dims().begin(), t.shape.dims().end()}});
  return specs;
}

std::vector<TensorSpec> vae_tensors(const VaeConfig& config) {
  std::vector<TensorSpec> specs;
  for (const auto part : {VaePart::encoder, VaePart::decoder})
    for (const auto& module : vae_modules(config, part))
      for (const auto& t : module.tensors)
        specs.push_back({t.name, {t.shape.dims().begin(), t.shape.dims().end()}});
  return specs;
}


const DitConfig kTinyDit{.patch_size = 2,
                                     .in_channels = 64,
                                     .out_channels = 16,
                                     .num_layers = 2,
                                     .attention_head_dim = 16,
                                     .num_attention_heads = 2,
                                     .joint_attention_dim = 32,
                                     .axes_dims_rope = {4, 6, 6}};
const TextEncoderDims kTinyText{.vocab_size = 152064,
                                .hidden_size = 32,
                                .num_hidden_layers = 2,
                                .num_attention_heads = 2,
                                .num_key_value_heads = 1,
                                .intermediate_size = 64};
const VaeConfig kTinyVae{.base_dim = 8, .z_dim = 16};
constexpr std::uint64_t kSeed = 20250804;

class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform_pm1() {  // uniform in [-1, 1), 24 random bits
    return static_cast<float>(next() >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }

 private:
  std::uint64_t state_;
};

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ull;
  return h;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Tensor make_values(const TensorSpec& spec) {
  const Shape shape{std::span<const std::int64_t>(spec.shape)};
  std::vector<float> values(static_cast<std::size_t>(shape.numel()));
  SplitMix64 rng(kSeed ^ fnv1a(spec.name));
  const bool bias = ends_with(spec.name, ".bias");
  const bool norm_scale = !bias && (ends_with(spec.name, ".gamma") ||
                                    (spec.shape.size() == 1 && spec.name.find("norm") != std::string::npos));
  const bool matrix =
      !bias && !norm_scale && spec.shape.size() >= 2 && spec.name.find("embed_tokens") == std::string::npos;
  const float bound =
      matrix ? 1.0f / std::sqrt(static_cast<float>(shape.numel() / spec.shape.front())) : 0.05f;
  for (float& v : values) v = norm_scale ? 1.0f + 0.1f * rng.uniform_pm1() : bound * rng.uniform_pm1();
  return Tensor::from_floats(shape, values).to(DType::bf16);
}

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

NamedTensors make_all(const std::vector<TensorSpec>& specs) {
  NamedTensors out;
  for (const TensorSpec& spec : specs) out.emplace_back(spec.name, make_values(spec));
  return out;
}

void write_json(const fs::path& path, const json& value) {
  std::ofstream out(path);
  out << value.dump(2) << "\n";
  if (!out.flush()) throw IoError("cannot write '" + path.string() + "'");
}

const std::map<std::string, std::string> kMetadata{{"format", "pt"}};

void write_transformer(const fs::path& dir) {
  const NamedTensors tensors = make_all(dit_tensors(kTinyDit));
  const std::string shard_names[2] = {"diffusion_pytorch_model-00001-of-00002.safetensors",
                                      "diffusion_pytorch_model-00002-of-00002.safetensors"};
  // Shard 1: the input layers and block 0; shard 2: block 1 and the output layers.
  NamedTensors shards[2];
  json weight_map = json::object();
  std::uint64_t total_size = 0;
  for (const auto& [name, tensor] : tensors) {
    const bool second = name.rfind("transformer_blocks.1.", 0) == 0 || name.rfind("norm_out.", 0) == 0 ||
                        name.rfind("proj_out.", 0) == 0;
    shards[second ? 1 : 0].emplace_back(name, tensor);
    weight_map[name] = shard_names[second ? 1 : 0];
    total_size += tensor.nbytes();
  }
  for (int s = 0; s < 2; ++s) write_safetensors(dir / shard_names[s], shards[s], kMetadata);
  write_json(dir / "diffusion_pytorch_model.safetensors.index.json",
             json{{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}});
  write_json(dir / "config.json", json{{"_class_name", "QwenImageTransformer2DModel"},
                                       {"_diffusers_version", "0.34.0.dev0"},
                                       {"attention_head_dim", kTinyDit.attention_head_dim},
                                       {"axes_dims_rope", kTinyDit.axes_dims_rope},
                                       {"guidance_embeds", false},
                                       {"in_channels", kTinyDit.in_channels},
                                       {"joint_attention_dim", kTinyDit.joint_attention_dim},
                                       {"num_attention_heads", kTinyDit.num_attention_heads},
                                       {"num_layers", kTinyDit.num_layers},
                                       {"out_channels", kTinyDit.out_channels},
                                       {"patch_size", kTinyDit.patch_size},
                                       {"pooled_projection_dim", 768}});
}

void write_text_encoder(const fs::path& dir) {
  write_safetensors(dir / "model.safetensors", make_all(text_encoder_tensors(kTinyText)), kMetadata);
  const std::int64_t head_dim = kTinyText.hidden_size / kTinyText.num_attention_heads;
  const json vision{{"depth", 1},
                    {"hidden_act", "silu"},
                    {"hidden_size", 16},
                    {"intermediate_size", 32},
                    {"num_heads", 2},
                    {"in_chans", 3},
                    {"out_hidden_size", kTinyText.hidden_size},
                    {"patch_size", 14},
                    {"spatial_merge_size", 2},
                    {"spatial_patch_size", 14},
                    {"temporal_patch_size", 2},
                    {"tokens_per_second", 2},
                    {"window_size", 112},
                    {"fullatt_block_indexes", json::array({0})},
                    {"model_type", "qwen2_5_vl"}};
  write_json(dir / "config.json",
             json{{"architectures", json::array({"Qwen2_5_VLForConditionalGeneration"})},
                  {"attention_dropout", 0.0},
                  {"bos_token_id", 151643},
                  {"eos_token_id", 151645},
                  {"hidden_act", "silu"},
                  {"hidden_size", kTinyText.hidden_size},
                  {"image_token_id", 151655},
                  {"initializer_range", 0.02},
                  {"intermediate_size", kTinyText.intermediate_size},
                  {"max_position_embeddings", 128000},
                  {"max_window_layers", kTinyText.num_hidden_layers},
                  {"model_type", "qwen2_5_vl"},
                  {"num_attention_heads", kTinyText.num_attention_heads},
                  {"num_hidden_layers", kTinyText.num_hidden_layers},
                  {"num_key_value_heads", kTinyText.num_key_value_heads},
                  {"rms_norm_eps", 1e-6},
                  {"rope_scaling",
                   {{"mrope_section", json::array({head_dim / 8, 3 * head_dim / 16, 3 * head_dim / 16})},
                    {"rope_type", "default"},
                    {"type", "default"}}},
                  {"rope_theta", 1000000.0},
                  {"sliding_window", 32768},
                  {"tie_word_embeddings", false},
                  {"torch_dtype", "bfloat16"},
                  {"use_cache", true},
                  {"use_sliding_window", false},
                  {"video_token_id", 151656},
                  {"vision_config", vision},
                  {"vision_end_token_id", 151653},
                  {"vision_start_token_id", 151652},
                  {"vision_token_id", 151654},
                  {"vocab_size", kTinyText.vocab_size}});
}

void write_vae(const fs::path& dir) {
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", make_all(vae_tensors(kTinyVae)), kMetadata);
  write_json(
      dir / "config.json",
      json{{"_class_name", "AutoencoderKLQwenImage"},
           {"_diffusers_version", "0.34.0.dev0"},
           {"attn_scales", json::array()},
           {"base_dim", kTinyVae.base_dim},
           {"dim_mult", kTinyVae.dim_mult},
           {"dropout", 0.0},
           {"input_channels", kTinyVae.input_channels},
           {"latents_mean", kTinyVae.latents_mean},
           {"latents_std", kTinyVae.latents_std},
           {"num_res_blocks", kTinyVae.num_res_blocks},
           {"temperal_downsample", kTinyVae.temperal_downsample},
           {"z_dim", kTinyVae.z_dim}});
}

void write_scheduler(const fs::path& dir) {
  write_json(dir / "scheduler_config.json", json{{"_class_name", "FlowMatchEulerDiscreteScheduler"},
                                                 {"_diffusers_version", "0.34.0.dev0"},
                                                 {"base_image_seq_len", 256},
                                                 {"base_shift", 0.5},
                                                 {"invert_sigmas", false},
                                                 {"max_image_seq_len", 8192},
                                                 {"max_shift", 0.9},
                                                 {"num_train_timesteps", 1000},
                                                 {"shift", 1.0},
                                                 {"shift_terminal", 0.02},
                                                 {"stochastic_sampling", false},
                                                 {"time_shift_type", "exponential"},
                                                 {"use_beta_sigmas", false},
                                                 {"use_dynamic_shifting", true},
                                                 {"use_exponential_sigmas", false},
                                                 {"use_karras_sigmas", false}});
}

std::string utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {  // bytes_to_unicode stays below U+0800; kept general for the BMP
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

void write_tokenizer(const fs::path& dir) {
  // The byte tokens in GPT-2's bytes_to_unicode order (printable bytes first), which gives them the ids they
  // have in the Qwen2 vocabulary ("a" 64, "Ġ" (space) 220, "Ċ" (newline) 198).
  std::vector<int> order;
  for (int b = 0; b < 256; ++b)
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) order.push_back(b);
  for (int b = 0; b < 256; ++b)
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) order.push_back(b);
  json vocab = json::object();
  for (std::size_t id = 0; id < order.size(); ++id)
    vocab[utf8(byte_to_unicode(static_cast<std::uint8_t>(order[id])))] = id;
  const std::string space = utf8(byte_to_unicode(' '));
  vocab[space + "c"] = 256;
  vocab[space + "ca"] = 257;
  vocab[space + "cat"] = 258;
  write_json(dir / "vocab.json", vocab);
  std::ofstream merges(dir / "merges.txt");
  merges << "#version: 0.2\n" << space << " c\n" << space << "c a\n" << space << "ca t\n";
  if (!merges.flush()) throw IoError("cannot write '" + (dir / "merges.txt").string() + "'");
  json added = json::object();
  for (const auto& [id, text] : {std::pair{151643, "<|endoftext|>"}, std::pair{151644, "<|im_start|>"},
                                 std::pair{151645, "<|im_end|>"}})
    added[std::to_string(id)] = json{{"content", text}, {"lstrip", false}, {"normalized", false},
                                     {"rstrip", false}, {"single_word", false}, {"special", true}};
  write_json(dir / "tokenizer_config.json",
             json{{"add_prefix_space", false}, {"added_tokens_decoder", added}, {"eos_token", "<|im_end|>"},
                  {"pad_token", "<|endoftext|>"}, {"tokenizer_class", "Qwen2Tokenizer"}});
}

}  // namespace

void write_tiny_qwen_image(const fs::path& root) {
  for (const char* sub : {"scheduler", "transformer", "text_encoder", "tokenizer", "vae"})
    fs::create_directories(root / sub);
  write_json(root / "model_index.json",
             json{{"_class_name", "QwenImagePipeline"},
                  {"_diffusers_version", "0.34.0.dev0"},
                  {"scheduler", json::array({"diffusers", "FlowMatchEulerDiscreteScheduler"})},
                  {"text_encoder", json::array({"transformers", "Qwen2_5_VLForConditionalGeneration"})},
                  {"tokenizer", json::array({"transformers", "Qwen2Tokenizer"})},
                  {"transformer", json::array({"diffusers", "QwenImageTransformer2DModel"})},
                  {"vae", json::array({"diffusers", "AutoencoderKLQwenImage"})}});
  write_scheduler(root / "scheduler");
  write_transformer(root / "transformer");
  write_text_encoder(root / "text_encoder");
  write_tokenizer(root / "tokenizer");
  write_vae(root / "vae");
}

void list_full_size_tensors(std::ostream& out) {
  const std::pair<const char*, std::vector<TensorSpec>> components[] = {
      {"transformer", dit_tensors(DitConfig{})},
      {"text_encoder", text_encoder_tensors(TextEncoderDims{})},
      {"vae", vae_tensors(VaeConfig{})}};
  for (const auto& [component, specs] : components) {
    for (const TensorSpec& spec : specs) {
      out << component << " " << spec.name << " ";
      for (std::size_t i = 0; i < spec.shape.size(); ++i) out << (i ? "x" : "") << spec.shape[i];
      out << "\n";
    }
  }
}

TinyModelFolder::TinyModelFolder() {
  fs::path base = fs::temp_directory_path() / ("vramkit-tiny-qwen-image-" + std::to_string(getpid()) + "-XXXXXX");
  std::string pattern = base.string();
  if (!mkdtemp(pattern.data()))
    throw IoError("cannot create a temporary folder for the tiny model in " + base.parent_path().string());
  path_ = pattern;
  try {
    write_tiny_qwen_image(path_);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(path_, ec);
    throw;
  }
}

TinyModelFolder::~TinyModelFolder() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace vramkit::qwen_image
