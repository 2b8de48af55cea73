// A tiny Qwen-Image checkpoint in the diffusers folder layout (`vramkit make-tiny-model DIR`, the pipeline's
// `builtin:tiny`, the build's tiny-qwen-image): the real component names, config.json
// files and tensor names, with small dimensions and deterministic pseudo-random bf16 values.
//
//   OUTPUT/model_index.json
//   OUTPUT/scheduler/scheduler_config.json              (the real scheduler settings)
//   OUTPUT/transformer/config.json                      2 layers, 2 heads x 16, text width 32
//   OUTPUT/transformer/diffusion_pytorch_model-0000{1,2}-of-00002.safetensors
//   OUTPUT/transformer/diffusion_pytorch_model.safetensors.index.json
//   OUTPUT/text_encoder/config.json + model.safetensors   2 layers, hidden 32, the full 152064-row vocabulary
//                                                       (so that real token ids stay valid); language model
//                                                       only: no lm_head, no vision tower
//   OUTPUT/vae/config.json + diffusion_pytorch_model.safetensors   base_dim 8, z_dim 16
//   OUTPUT/tokenizer/vocab.json + merges.txt + tokenizer_config.json   a tiny byte-level BPE vocabulary in the
//                                                       files of Qwen-Image's tokenizer/: the 256 byte tokens with
//                                                       their Qwen2 ids, 3 merges (" c", " ca", " cat" -> 256..258)
//                                                       and the template's special tokens with their real ids
//                                                       (<|endoftext|> 151643, <|im_start|> 151644, <|im_end|>
//                                                       151645); the real vocabulary is 5 MB of data
//
// Values and sharding: models/qwen_image/model_writer.h (seed 20250804; two transformer shards).
//
// The same layout code with the released dimensions lists the full-size model's tensors, which a test checks
// against the released checkpoint's counts.
#pragma once

#include <filesystem>
#include <ostream>

namespace vramkit::qwen_image {

// Writes the tiny model into `root` (created if needed; existing files are overwritten). IoError on failure.
void write_tiny_qwen_image(const std::filesystem::path& root);

// One "component name d0xd1x..." line per tensor of the full-size model (transformer, text encoder, VAE).
void list_full_size_tensors(std::ostream& out);

// The tiny model written into a fresh temporary folder, removed again at destruction.
class TinyModelFolder {
 public:
  TinyModelFolder();
  ~TinyModelFolder();
  TinyModelFolder(const TinyModelFolder&) = delete;
  TinyModelFolder& operator=(const TinyModelFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace vramkit::qwen_image
