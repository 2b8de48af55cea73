#include "models/qwen_image/text_encoder_workspace.h"

#include "models/activation_meter.h"

namespace vramkit::qwen_image {

std::uint64_t text_encoder_workspace_bytes(const TextEncoderConfig& config, std::int64_t batch,
                                           std::int64_t length, bool masked, DType dtype, OpKernels kernels) {
  ActivationMeter m(dtype, kernels);
  const std::int64_t n = batch * length, width = config.hidden_size, kv_width = config.kv_dim();
  const std::int64_t inter_width = config.intermediate_size;
  const std::int64_t hidden = n * width, kv = n * kv_width, inter = n * inter_width;

  // Held throughout: positions (i64) and the key mask (u8), the f32 RoPE tables (cos and sin of head_dim/2
  // pairs per token), and the hidden state h.
  const std::uint64_t fixed = static_cast<std::uint64_t>(n) * 9 + ActivationMeter::f32(n * config.head_dim());
  const std::uint64_t held = fixed + m.act(hidden);
  m.at(fixed + 2 * m.act(hidden));  // the embedding rows, then cast to the activation dtype

  // Self-attention on n = input_layernorm(h), alive until the residual add.
  m.at(held + m.f32_op(hidden, hidden));
  const std::uint64_t normed = held + m.act(hidden);
  m.at(normed + m.linear(n, width, width));                             // q_proj
  m.at(normed + m.act(hidden) + m.linear(n, width, kv_width));             // k_proj
  m.at(normed + m.act(hidden) + m.act(kv) + m.linear(n, width, kv_width));  // v_proj
  const std::uint64_t qkv = normed + m.act(hidden) + 2 * m.act(kv);
  m.at(qkv + m.f32_op(hidden, hidden));  // RoPE on q (k's is smaller)
  m.at(qkv +
       m.attention(batch, length, length, config.hidden_size, config.kv_dim(), config.head_dim(), masked));
  m.at(normed + m.act(hidden) + m.linear(n, width, width));  // o_proj on the attention output
  m.at(normed + 2 * m.act(hidden));                         // the residual add

  // MLP on m = post_attention_layernorm(h): gate and up, their SwiGLU, down_proj, the residual add.
  m.at(held + m.f32_op(hidden, hidden));
  m.at(normed + m.linear(n, width, inter_width));
  m.at(normed + m.act(inter) + m.linear(n, width, inter_width));
  m.at(normed + 3 * m.act(inter));
  m.at(normed + m.act(inter) + m.linear(n, inter_width, width));
  m.at(normed + 2 * m.act(hidden));

  m.at(held + m.f32_op(hidden, hidden) + ActivationMeter::f32(hidden));  // the final norm, returned in f32
  return m.peak();
}

}  // namespace vramkit::qwen_image
