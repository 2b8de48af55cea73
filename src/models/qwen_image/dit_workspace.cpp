#include "models/qwen_image/dit_workspace.h"

#include <algorithm>

#include "models/activation_meter.h"

namespace vramkit::qwen_image {

std::uint64_t dit_modulation_table_bytes(const DitConfig& config, std::int64_t steps, DType dtype) {
  const std::int64_t dim = config.inner_dim();
  return ActivationMeter(dtype).act(steps * (config.num_layers * 2 * 6 * dim + 2 * dim)) + ActivationMeter::f32(steps);
}

std::uint64_t dit_modulation_workspace_bytes(const DitConfig& config, std::int64_t steps, DType dtype,
                                             OpKernels kernels) {
  ActivationMeter m(dtype, kernels);
  const std::int64_t dim = config.inner_dim(), n = steps * dim;
  const std::int64_t sinusoid = steps * DitConfig::kTimestepChannels;
  // The timestep MLP: the sinusoidal projection (cast to dtype; the timesteps in f32), linear_1, SiLU, linear_2.
  m.at(ActivationMeter::f32(steps) + m.act(sinusoid) + m.linear(steps, DitConfig::kTimestepChannels, dim));
  m.at(2 * m.act(n) + m.linear(steps, dim, dim));
  // Then temb and SiLU(temb) stay while the table fills: the largest steps are the last txt_mod.1 (6·D per
  // row, every other row set done) and norm_out.linear (2·D per row).
  // The timesteps are kept in f32 twice (the table's and the projection's rounded copy).
  const std::uint64_t temb = 2 * m.act(n) + ActivationMeter::f32(steps);
  const std::uint64_t table = dit_modulation_table_bytes(config, steps, dtype);
  m.at(temb + table - m.act(6 * n) - m.act(2 * n) + m.linear(steps, dim, 6 * dim));
  m.at(temb + table - m.act(2 * n) + m.linear(steps, dim, 2 * dim));
  return m.peak();
}

std::uint64_t dit_forward_workspace_bytes(const DitConfig& config, std::int64_t batch,
                                          std::int64_t image_tokens, std::int64_t text_tokens, bool text_mask,
                                          DType dtype, OpKernels kernels) {
  ActivationMeter m(dtype, kernels);
  const std::int64_t dim = config.inner_dim(), ffn = config.ffn_dim();
  const std::int64_t ri = batch * image_tokens, rt = batch * text_tokens;  // rows of the two streams
  const std::int64_t a = ri * dim, t = rt * dim, s = a + t;
  const bool batched = batch > 1;  // slices of the joint sequence along dim 1 are strided then

  // Held through every block: the batch's modulation rows, the RoPE tables (f32 cos and sin of D/2 pairs per
  // token), the joint key mask (u8), and the two streams x and c.
  const std::uint64_t fixed = dit_modulation_table_bytes(config, batch, dtype) +
                              ActivationMeter::f32((image_tokens + text_tokens) * config.attention_head_dim) +
                              (text_mask ? static_cast<std::uint64_t>(batch * (image_tokens + text_tokens)) : 0);
  const std::uint64_t held = fixed + m.act(s);

  // Entry: img_in on the latents, txt_norm and txt_in on the text embeddings (each first cast to dtype).
  const std::int64_t text_in = rt * config.joint_attention_dim;
  m.at(fixed + m.act(ri * config.in_channels) + m.linear(ri, config.in_channels, dim));
  m.at(fixed + m.act(a) + m.act(text_in) + m.f32_op(text_in, text_in));
  m.at(fixed + m.act(a) + m.act(text_in) + m.linear(rt, config.joint_attention_dim, dim));

  // One block (every block is the same).
  // LayerNorm (an f32 op), then modulate (its result next to the norm's).
  const auto norm_modulate = [&](std::int64_t n) { return std::max(m.f32_op(n, n), 2 * m.act(n)); };
  m.at(held + norm_modulate(a));
  m.at(held + m.act(a) + norm_modulate(t));
  // joint_attention (dit_block.cpp): the six projections while xa and ca are alive, then without them the
  // q/k norms and RoPE (each replacing its input), the three [image, text] joins (each adds the joint tensor,
  // then drops its two parts) and the attention over the joined q, k, v.
  const std::uint64_t attn_in = held + m.act(s);
  std::uint64_t produced = 0;
  for (const std::int64_t rows : {ri, ri, ri, rt, rt, rt}) {
    m.at(attn_in + produced + m.linear(rows, dim, dim));
    produced += m.act(rows * dim);
  }
  m.at(held + produced + m.f32_op(a, a));  // the largest norm / RoPE, on an image q or k
  m.at(held + produced + m.act(s));        // a join: every part, and its joint tensor
  const std::int64_t joint = image_tokens + text_tokens;
  m.at(held + produced + m.attention(batch, joint, joint, dim, dim, config.attention_head_dim, text_mask));
  // to_out.0 and to_add_out on slices of the joint output, each followed by its gated residual.
  m.at(held + m.act(s) + m.linear(ri, dim, dim, !batched));
  m.at(held + m.act(s) + 2 * m.act(a));
  m.at(held + m.act(s) + m.linear(rt, dim, dim, !batched));
  m.at(held + m.act(s) + 2 * m.act(t));
  // The MLPs (dit_block.cpp): y = norm_modulate(stream); net.0.proj(y), then y dropped; GELU over the
  // projection in place; net.2; the gated residual (the old stream, the MLP's output, the new stream).
  for (const std::int64_t rows : {ri, rt}) {
    const std::int64_t n = rows * dim, hidden = rows * ffn;
    m.at(held + norm_modulate(n));
    m.at(held + m.act(n) + m.linear(rows, dim, ffn));
    m.at(held + m.act(hidden) + m.linear(rows, ffn, dim));
    m.at(held + 2 * m.act(n));
  }

  // Exit: the output norm and modulation, proj_out, the f32 result.
  m.at(held + norm_modulate(a));
  m.at(held + m.act(a) + m.linear(ri, dim, config.out_features()) + ActivationMeter::f32(ri * config.out_features()));
  return m.peak();
}

}  // namespace vramkit::qwen_image
