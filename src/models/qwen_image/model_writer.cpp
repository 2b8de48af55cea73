#include "models/qwen_image/model_writer.h"

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "core/convert.h"
#include "io/safetensors.h"
#include "models/qwen_image/tokenizer.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

// SplitMix64 is counter-based: its k-th output (from 0) is a mix of seed + (k + 1)·gamma, so any element of a
// tensor's stream can be computed directly, and chunks of it in parallel, with the values of a sequential
// draw.
float splitmix64_uniform_pm1(std::uint64_t seed, std::uint64_t k) {
  std::uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;  // uniform in [-1, 1), 24 random bits
}

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ull;
  return h;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<ModelTensor> from_modules(const std::vector<ModuleSpec>& modules, DType weight_dtype) {
  std::vector<ModelTensor> out;
  for (const auto& module : modules)
    for (const auto& t : module.tensors) {
      std::vector<std::int64_t> shape(t.shape.dims().begin(), t.shape.dims().end());
      const DType dtype = shape.size() == 2 ? weight_dtype : DType::bf16;
      out.push_back({t.name, std::move(shape), dtype});
    }
  return out;
}

// Generates the tensor's values in chunks and hands each, rounded to its dtype, to the writer.
void write_values(SafetensorsStreamWriter& out, const ModelTensor& tensor, std::uint64_t seed) {
  constexpr std::size_t kChunk = std::size_t{1} << 22;  // elements generated, encoded and written at a time
  constexpr std::size_t kMinSlice = std::size_t{1} << 16;  // fewer elements per thread are not worth one
  static const std::size_t kThreads = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 16);
  std::uint64_t numel = 1;
  for (const std::int64_t d : tensor.shape) numel *= static_cast<std::uint64_t>(d);
  const bool bias = ends_with(tensor.name, ".bias");
  const bool norm_scale =
      !bias && (ends_with(tensor.name, ".gamma") ||
                (tensor.shape.size() == 1 && tensor.name.find("norm") != std::string::npos));
  const bool matrix = !bias && !norm_scale && tensor.shape.size() >= 2 &&
                      tensor.name.find("embed_tokens") == std::string::npos;
  const float bound =
      matrix ? 1.0f / std::sqrt(static_cast<float>(numel / static_cast<std::uint64_t>(tensor.shape.front())))
             : 0.05f;
  const std::uint64_t stream = seed ^ fnv1a(tensor.name);
  const float scale = norm_scale ? 0.1f : bound, offset = norm_scale ? 1.0f : 0.0f;
  const std::size_t element_bytes = dtype_size(tensor.dtype);
  std::vector<float> values(static_cast<std::size_t>(std::min<std::uint64_t>(numel, kChunk)));
  std::vector<std::uint8_t> encoded(values.size() * element_bytes);
  // Each chunk is generated and encoded by up to kThreads threads, each on its own slice, then written.
  const auto fill = [&](std::uint64_t first, std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i)
      values[i] = offset + scale * splitmix64_uniform_pm1(stream, first + i);
    convert(values.data() + begin, DType::f32, encoded.data() + begin * element_bytes, tensor.dtype,
            end - begin);
  };
  for (std::uint64_t done = 0; done < numel;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(numel - done, kChunk));
    const std::size_t threads = std::min<std::size_t>(kThreads, 1 + n / kMinSlice);
    std::vector<std::thread> helpers;
    for (std::size_t t = 1; t < threads; ++t)
      helpers.emplace_back(fill, done, n * t / threads, n * (t + 1) / threads);
    fill(done, 0, n / threads);
    for (auto& h : helpers) h.join();
    out.write(encoded.data(), n * element_bytes);
    done += n;
  }
}

void write_json(const fs::path& path, const ordered_json& value) {
  std::ofstream out(path);
  out << value.dump(2) << "\n";
  if (!out.flush()) throw IoError("cannot write '" + path.string() + "'");
}

const std::map<std::string, std::string> kMetadata{{"format", "pt"}};

std::string shard_name(const std::string& stem, int shard, int shards) {
  if (shards == 1) return stem + ".safetensors";
  char suffix[48];
  std::snprintf(suffix, sizeof suffix, "-%05d-of-%05d.safetensors", shard + 1, shards);
  return stem + suffix;
}

// Writes one component's tensors as `stem`.safetensors or as K shards with their index (the layout above).
void write_component(const fs::path& dir, const std::string& stem, const std::vector<ModelTensor>& tensors,
                     const std::string& block_prefix, std::int64_t blocks, int shards,
                     const QwenImageModelSpec& spec) {
  std::uint64_t total_size = 0;
  for (const auto& t : tensors) total_size += t.bytes();
  if (shards <= 0) shards = static_cast<int>((total_size + spec.max_shard_bytes - 1) / spec.max_shard_bytes);
  shards = static_cast<int>(std::clamp<std::int64_t>(shards, 1, std::max<std::int64_t>(blocks, 1)));
  std::vector<std::vector<const ModelTensor*>> members(static_cast<std::size_t>(shards));
  bool after_blocks = false;
  for (const auto& t : tensors) {
    int shard = after_blocks ? shards - 1 : 0;
    if (blocks > 0 && t.name.rfind(block_prefix, 0) == 0) {
      const std::int64_t block = std::stoll(t.name.substr(block_prefix.size()));
      shard = static_cast<int>(block * shards / blocks);
      after_blocks = block == blocks - 1;
    }
    members[static_cast<std::size_t>(shard)].push_back(&t);
  }
  ordered_json weight_map = ordered_json::object();
  for (int s = 0; s < shards; ++s) {
    const std::string name = shard_name(stem, s, shards);
    std::vector<SafetensorsTensorInfo> infos;
    for (const ModelTensor* t : members[static_cast<std::size_t>(s)]) {
      infos.push_back({t->name, t->dtype, Shape{std::span<const std::int64_t>(t->shape)}});
      weight_map[t->name] = name;
    }
    SafetensorsStreamWriter out(dir / name, std::move(infos), kMetadata);
    for (const ModelTensor* t : members[static_cast<std::size_t>(s)]) write_values(out, *t, spec.seed);
    out.finish();
  }
  if (shards > 1) {
    // The index lists the tensors in file order, as the released index does by name.
    ordered_json ordered = ordered_json::object();
    for (const auto& t : tensors) ordered[t.name] = weight_map[t.name];
    write_json(dir / (stem + ".safetensors.index.json"),
               ordered_json{{"metadata", {{"total_size", total_size}}}, {"weight_map", ordered}});
  }
}

void write_transformer(const fs::path& dir, const QwenImageModelSpec& spec) {
  const DitConfig& c = spec.dit;
  write_component(dir, "diffusion_pytorch_model", transformer_tensors(spec), "transformer_blocks.",
                  c.num_layers, spec.transformer_shards, spec);
  write_json(dir / "config.json", ordered_json{{"_class_name", "QwenImageTransformer2DModel"},
                                               {"_diffusers_version", "0.34.0.dev0"},
                                               {"attention_head_dim", c.attention_head_dim},
                                               {"axes_dims_rope", c.axes_dims_rope},
                                               {"guidance_embeds", false},
                                               {"in_channels", c.in_channels},
                                               {"joint_attention_dim", c.joint_attention_dim},
                                               {"num_attention_heads", c.num_attention_heads},
                                               {"num_layers", c.num_layers},
                                               {"out_channels", c.out_channels},
                                               {"patch_size", c.patch_size},
                                               {"pooled_projection_dim", 768}});
}

void write_text_encoder(const fs::path& dir, const QwenImageModelSpec& spec) {
  const TextEncoderConfig& t = spec.text_encoder;
  write_component(dir, "model", text_encoder_tensors(spec), "model.layers.", t.num_hidden_layers,
                  spec.text_encoder_shards, spec);
  const std::int64_t head_dim = t.hidden_size / t.num_attention_heads;
  const ordered_json vision{{"depth", spec.vision.depth},
                            {"hidden_act", "silu"},
                            {"hidden_size", spec.vision.hidden_size},
                            {"intermediate_size", spec.vision.intermediate_size},
                            {"num_heads", spec.vision.num_heads},
                            {"in_chans", 3},
                            {"out_hidden_size", t.hidden_size},
                            {"patch_size", 14},
                            {"spatial_merge_size", 2},
                            {"spatial_patch_size", 14},
                            {"temporal_patch_size", 2},
                            {"tokens_per_second", 2},
                            {"window_size", 112},
                            {"fullatt_block_indexes", spec.vision.fullatt_block_indexes},
                            {"model_type", "qwen2_5_vl"}};
  write_json(
      dir / "config.json",
      ordered_json{
          {"architectures", ordered_json::array({"Qwen2_5_VLForConditionalGeneration"})},
          {"attention_dropout", 0.0},
          {"bos_token_id", 151643},
          {"eos_token_id", 151645},
          {"hidden_act", "silu"},
          {"hidden_size", t.hidden_size},
          {"image_token_id", 151655},
          {"initializer_range", 0.02},
          {"intermediate_size", t.intermediate_size},
          {"max_position_embeddings", 128000},
          {"max_window_layers", t.num_hidden_layers},
          {"model_type", "qwen2_5_vl"},
          {"num_attention_heads", t.num_attention_heads},
          {"num_hidden_layers", t.num_hidden_layers},
          {"num_key_value_heads", t.num_key_value_heads},
          {"rms_norm_eps", 1e-6},
          {"rope_scaling",
           {{"mrope_section", ordered_json::array({head_dim / 8, 3 * head_dim / 16, 3 * head_dim / 16})},
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
          {"vocab_size", t.vocab_size}});
}

void write_vae(const fs::path& dir, const QwenImageModelSpec& spec) {
  const VaeConfig& v = spec.vae;
  write_component(dir, "diffusion_pytorch_model", vae_tensors(spec), "", 0, 1, spec);
  write_json(dir / "config.json", ordered_json{{"_class_name", "AutoencoderKLQwenImage"},
                                               {"_diffusers_version", "0.34.0.dev0"},
                                               {"attn_scales", ordered_json::array()},
                                               {"base_dim", v.base_dim},
                                               {"dim_mult", v.dim_mult},
                                               {"dropout", 0.0},
                                               {"input_channels", v.input_channels},
                                               {"latents_mean", v.latents_mean},
                                               {"latents_std", v.latents_std},
                                               {"num_res_blocks", v.num_res_blocks},
                                               {"temperal_downsample", v.temperal_downsample},
                                               {"z_dim", v.z_dim}});
}
void write_scheduler(const fs::path& dir) {
  write_json(dir / "scheduler_config.json", ordered_json{{"_class_name", "FlowMatchEulerDiscreteScheduler"},
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
  ordered_json vocab = ordered_json::object();
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
  ordered_json added = ordered_json::object();
  for (const auto& [id, text] : {std::pair{151643, "<|endoftext|>"}, std::pair{151644, "<|im_start|>"},
                                 std::pair{151645, "<|im_end|>"}})
    added[std::to_string(id)] = ordered_json{{"content", text}, {"lstrip", false},      {"normalized", false},
                                             {"rstrip", false}, {"single_word", false}, {"special", true}};
  write_json(dir / "tokenizer_config.json", ordered_json{{"add_prefix_space", false},
                                                         {"added_tokens_decoder", added},
                                                         {"eos_token", "<|im_end|>"},
                                                         {"pad_token", "<|endoftext|>"},
                                                         {"tokenizer_class", "Qwen2Tokenizer"}});
}

}  // namespace

std::uint64_t ModelTensor::bytes() const {
  std::uint64_t n = dtype_size(dtype);
  for (const std::int64_t d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

// The tensors of each component, from the models' own module lists (legacy names for the text encoder:
// embed_tokens, layers, final norm; no lm_head, no vision tower).
std::vector<ModelTensor> transformer_tensors(const QwenImageModelSpec& spec) {
  std::vector<ModuleSpec> modules;
  for (const auto& m : dit_modules(spec.dit)) modules.push_back({m.name, m.tensors});
  return from_modules(modules, spec.weight_dtype);
}

std::vector<ModelTensor> text_encoder_tensors(const QwenImageModelSpec& spec) {
  return from_modules(text_encoder_modules(spec.text_encoder, TextEncoderKeyNaming::legacy),
                      spec.weight_dtype);
}

std::vector<ModelTensor> vae_tensors(const QwenImageModelSpec& spec) {
  std::vector<ModuleSpec> modules;
  for (const auto part : {VaePart::encoder, VaePart::decoder})
    for (const auto& m : vae_modules(spec.vae, part)) modules.push_back({m.name, m.tensors});
  return from_modules(modules, spec.weight_dtype);
}

QwenImageModelSpec released_dimensions(std::int64_t dit_layers, std::int64_t text_layers) {
  const DitConfig released_dit;
  if (dit_layers < 1 || dit_layers > released_dit.num_layers)
    throw ArgumentError("--layers: " + std::to_string(dit_layers) + " is not in 1.." +
                        std::to_string(released_dit.num_layers) + " (the DiT's blocks)");
  QwenImageModelSpec spec;
  spec.dit.num_layers = dit_layers;
  spec.text_encoder = TextEncoderConfig{.vocab_size = 152064,
                                        .hidden_size = 3584,
                                        .num_hidden_layers = 28,
                                        .num_attention_heads = 28,
                                        .num_key_value_heads = 4,
                                        .intermediate_size = 18944};
  if (text_layers < 0 || text_layers > spec.text_encoder.num_hidden_layers)
    throw ArgumentError("--text-layers: " + std::to_string(text_layers) + " is not in 0.." +
                        std::to_string(spec.text_encoder.num_hidden_layers) + " (the text encoder's layers)");
  spec.text_encoder.num_hidden_layers = text_layers;
  return spec;
}

void write_qwen_image_model(const fs::path& root, const QwenImageModelSpec& spec) {
  if (spec.weight_dtype != DType::bf16 && spec.weight_dtype != DType::f8_e4m3fn)
    throw ArgumentError("weight dtype " + std::string(dtype_name(spec.weight_dtype)) +
                        ": the model writer writes bf16 or f8_e4m3fn");
  for (const char* sub : {"scheduler", "transformer", "text_encoder", "tokenizer", "vae"})
    fs::create_directories(root / sub);
  write_json(
      root / "model_index.json",
      ordered_json{
          {"_class_name", "QwenImagePipeline"},
          {"_diffusers_version", "0.34.0.dev0"},
          {"scheduler", ordered_json::array({"diffusers", "FlowMatchEulerDiscreteScheduler"})},
          {"text_encoder", ordered_json::array({"transformers", "Qwen2_5_VLForConditionalGeneration"})},
          {"tokenizer", ordered_json::array({"transformers", "Qwen2Tokenizer"})},
          {"transformer", ordered_json::array({"diffusers", "QwenImageTransformer2DModel"})},
          {"vae", ordered_json::array({"diffusers", "AutoencoderKLQwenImage"})}});
  write_scheduler(root / "scheduler");
  write_transformer(root / "transformer", spec);
  write_text_encoder(root / "text_encoder", spec);
  write_tokenizer(root / "tokenizer");
  write_vae(root / "vae", spec);
}

}  // namespace vramkit::qwen_image
