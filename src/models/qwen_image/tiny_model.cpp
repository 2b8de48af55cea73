#include "models/qwen_image/tiny_model.h"

#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "models/qwen_image/model_writer.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

namespace fs = std::filesystem;

QwenImageModelSpec tiny_spec() {
  QwenImageModelSpec spec;
  spec.dit = DitConfig{.patch_size = 2,
                       .in_channels = 64,
                       .out_channels = 16,
                       .num_layers = 2,
                       .attention_head_dim = 16,
                       .num_attention_heads = 2,
                       .joint_attention_dim = 32,
                       .axes_dims_rope = {4, 6, 6}};
  spec.text_encoder = TextEncoderConfig{.vocab_size = 152064,
                                        .hidden_size = 32,
                                        .num_hidden_layers = 2,
                                        .num_attention_heads = 2,
                                        .num_key_value_heads = 1,
                                        .intermediate_size = 64};
  spec.vision = VisionTowerDims{
      .depth = 1, .hidden_size = 16, .intermediate_size = 32, .num_heads = 2, .fullatt_block_indexes = {0}};
  spec.vae = VaeConfig{.base_dim = 8, .z_dim = 16};
  spec.seed = 20250804;
  // Shard 1: the input layers and block 0; shard 2: block 1 and the output layers (the sharded path tested).
  spec.transformer_shards = 2;
  spec.text_encoder_shards = 1;
  return spec;
}

}  // namespace

void write_tiny_qwen_image(const fs::path& root) {
  write_qwen_image_model(root, tiny_spec());
}

void list_full_size_tensors(std::ostream& out) {
  const QwenImageModelSpec full = released_dimensions(DitConfig{}.num_layers, 28);
  const std::pair<const char*, std::vector<ModelTensor>> components[] = {
      {"transformer", transformer_tensors(full)},
      {"text_encoder", text_encoder_tensors(full)},
      {"vae", vae_tensors(full)}};
  for (const auto& [component, tensors] : components) {
    for (const ModelTensor& t : tensors) {
      out << component << " " << t.name << " ";
      for (std::size_t i = 0; i < t.shape.size(); ++i) out << (i ? "x" : "") << t.shape[i];
      out << "\n";
    }
  }
}

TinyModelFolder::TinyModelFolder() {
  fs::path base =
      fs::temp_directory_path() / ("vramkit-tiny-qwen-image-" + std::to_string(getpid()) + "-XXXXXX");
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
