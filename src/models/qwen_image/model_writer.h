// Writes a random-weight Qwen-Image checkpoint of any dimensions in the diffusers folder layout, streamed:
// each safetensors header is written first from the known shapes, then every tensor is generated and written
// in chunks, so a model far larger than memory never is in memory (tiny_model.h and `vramkit make-test-model`
// use it).
//
//   OUTPUT/model_index.json, scheduler/scheduler_config.json (the real scheduler settings)
//   OUTPUT/transformer/config.json + diffusion_pytorch_model[-0000i-of-0000K].safetensors (+ .index.json)
//   OUTPUT/text_encoder/config.json + model[-0000i-of-0000K].safetensors (+ .index.json): the language model
//                                      only (legacy key names; no lm_head, no vision tower weights)
//   OUTPUT/vae/config.json + diffusion_pytorch_model.safetensors
//   OUTPUT/tokenizer/: the tiny byte-level BPE vocabulary with the real ids of the byte and special tokens
//
// Sharding follows the release: with K shards, the layers before the first block go to shard 1, block b of N
// to shard 1 + b·K/N, the layers after the last block to shard K, and a .index.json maps every tensor to its
// shard; K = 1 writes one file without an index.
//
// Values: each tensor draws from its own SplitMix64 stream seeded by the seed and a hash of its name, so a
// value never depends on the order of writing or on the chunking. Linear/conv weights are uniform in
// ±1/sqrt(fan_in) (PyTorch's default bound), biases uniform in ±0.05, norm scales 1 + uniform(±0.1), the
// embedding uniform in ±0.05. They are rounded to bf16, or with weight_dtype f8_e4m3fn every rank-2 tensor
// (the Linear weights and the embedding) is rounded to fp8 without a scale, as fp8 checkpoints for ComfyUI
// store them, and the rest to bf16.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "models/qwen_image/dit_config.h"
#include "models/qwen_image/text_encoder_config.h"
#include "models/qwen_image/vae_config.h"

namespace vramkit::qwen_image {

// The vision tower's config.json entries (the checkpoint holds no vision weights, but the file names them).
struct VisionTowerDims {
  std::int64_t depth = 32;
  std::int64_t hidden_size = 1280;
  std::int64_t intermediate_size = 3420;
  std::int64_t num_heads = 16;
  std::vector<std::int64_t> fullatt_block_indexes{7, 15, 23, 31};
};

struct QwenImageModelSpec {
  DitConfig dit;
  TextEncoderConfig text_encoder;
  VisionTowerDims vision;
  VaeConfig vae;
  DType weight_dtype = DType::bf16;  // bf16, or f8_e4m3fn for the rank-2 tensors
  std::uint64_t seed = 0;
  // Shards of the transformer and of the text encoder: > 0 exactly that many (at most one per block), 0 as
  // many as keep each under max_shard_bytes (5 GB, the release's and huggingface_hub's default).
  int transformer_shards = 0;
  int text_encoder_shards = 0;
  std::uint64_t max_shard_bytes = 5'000'000'000;
};

// The released model's dimensions with `dit_layers` of its 60 blocks and `text_layers` of the text encoder's
// 28 layers. ArgumentError naming --layers / --text-layers when out of range (0 text layers is allowed; the
// DiT needs at least one block).
QwenImageModelSpec released_dimensions(std::int64_t dit_layers, std::int64_t text_layers);

// One tensor of a component: its name, shape and the dtype it is written in.
struct ModelTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  DType dtype = DType::bf16;
  std::uint64_t bytes() const;
};

// The tensors of each component, in file order.
std::vector<ModelTensor> transformer_tensors(const QwenImageModelSpec& spec);
std::vector<ModelTensor> text_encoder_tensors(const QwenImageModelSpec& spec);
std::vector<ModelTensor> vae_tensors(const QwenImageModelSpec& spec);

// Writes the whole folder into `root` (created if needed; existing files are overwritten). ArgumentError for
// an unsupported weight_dtype, IoError on failure.
void write_qwen_image_model(const std::filesystem::path& root, const QwenImageModelSpec& spec);

}  // namespace vramkit::qwen_image
