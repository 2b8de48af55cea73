// The Qwen-Image text encoder: the language model of Qwen2.5-VL-7B-Instruct with every weight streamed
// through the VRAM manager, one managed unit per Linear and RMSNorm (text_encoder_config.h lists them in
// execution order), each acquired right before use and released right after.
//
// The embedding table (152064 x 3584, 1.09 GB in bf16) is not a unit: a prompt needs a few hundred of its rows,
// so they are looked up on the host in the checkpoint itself (the memory-mapped file: the pages of those rows
// are read, nothing else) and the activations go on. Streaming the table would cost a 1.09 GB copy per
// generation and, as the largest unit, would size every ring slot of the text encoder.
//
// forward(input_ids [B, L], attention_mask [B, L]) -> the last hidden state after the final norm [B, L, hidden]
// in f32: what transformers' Qwen2_5_VLForConditionalGeneration returns as hidden_states[-1] with
// output_hidden_states=True, and what the Qwen-Image pipeline conditions on (spec §4.3). Per layer:
//   h += o_proj(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n))),  n = input_layernorm(h)
//   h += down_proj(silu(gate_proj(n)) · up_proj(n)),                      n = post_attention_layernorm(h)
// Attention is grouped-query (query head h reads kv head h / (heads / kv_heads)), causal, with the attention
// mask as a key padding mask. RoPE is the rotate-half 1-D RoPE with theta = rope_theta: for text-only input
// Qwen2.5-VL's multimodal RoPE gets the same position on its three sections (temporal, height, width), so
// every frequency sees that position. Positions are transformers 4.x's get_rope_index for text: cumsum(mask) - 1
// (so left padding does not shift the real tokens), padded slots 1; without a mask 0..L-1.
//
// Activations are in the model's computation dtype (f32 or bf16; the VramConfig's computation dtype).
#pragma once

#include <filesystem>
#include <memory>

#include "core/tensor.h"
#include "models/qwen_image/text_encoder_config.h"
#include "vram/managed_model.h"
#include "vram/manager.h"

namespace vramkit::qwen_image {

class QwenImageTextEncoder {
 public:
  // Validates the weights against `config` (FormatError listing every problem) before registering the model
  // with the manager; nothing is loaded until onload().
  QwenImageTextEncoder(VramManager& manager, TextEncoderConfig config, TextEncoderKeyNaming naming,
                       std::shared_ptr<const WeightFiles> files, const VramConfig& vram, ModelOptions options = {});
  // `folder` is a diffusers model folder (its text_encoder/ is used) or the text encoder folder itself
  // (config.json and the safetensors files or their index). The key naming is detected from the files.
  static std::unique_ptr<QwenImageTextEncoder> open(VramManager& manager, const std::filesystem::path& folder,
                                                    const VramConfig& vram, ModelOptions options = {});

  const TextEncoderConfig& config() const { return config_; }
  TextEncoderKeyNaming key_naming() const { return naming_; }
  ManagedModel& managed() { return *model_; }
  DType computation_dtype() const { return model_->config().computation.dtype.dtype; }

  void onload() { model_->onload(); }
  void offload() { model_->offload(); }

  // input_ids [B, L] i64 (or i32); attention_mask optional [B, L] bool/u8/i32/i64, non-zero = a real token.
  // -> [B, L, hidden_size] f32. Onloads the model first if needed. ShapeError for mis-shaped inputs,
  // ArgumentError for a token id outside [0, vocab_size) (naming the id and its position), both before any
  // weight is touched.
  Tensor forward(const Tensor& input_ids, const Tensor& attention_mask = Tensor());

 private:
  TextEncoderConfig config_;
  TextEncoderKeyNaming naming_;
  std::shared_ptr<const WeightFiles> files_;  // the embedding table is read from here
  std::unique_ptr<ManagedModel> model_;
};

}  // namespace vramkit::qwen_image
