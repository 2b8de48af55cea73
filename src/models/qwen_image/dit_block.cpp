#include "models/qwen_image/dit_block.h"

#include <algorithm>
#include <string>

#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/layout.h"
#include "ops/norm.h"

namespace vramkit::qwen_image {
namespace {

// AdaLN parameters of one stream: the 6·D modulation split into (shift, scale, gate) for the attention half
// and for the MLP half, each [B, 1, D] so that it broadcasts over the tokens.
struct Modulation {
  Tensor shift1, scale1, gate1, shift2, scale2, gate2;
};

Modulation split_modulation(const Tensor& mod, std::int64_t dim) {
  const auto parts = ops::split(mod, {dim, dim, dim, dim, dim, dim}, -1);
  return {parts[0].unsqueeze(1), parts[1].unsqueeze(1), parts[2].unsqueeze(1),
          parts[3].unsqueeze(1), parts[4].unsqueeze(1), parts[5].unsqueeze(1)};
}

// LayerNorm without affine, then the modulation (one pass over x on a GPU).
Tensor norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale) {
  return ops::layer_norm_modulate(x, shift, scale, DitConfig::kNormEps);
}

// FeedForward(dim, dim, activation_fn="gelu-approximate"): net.2(GELU_tanh(net.0.proj(y))). y is taken by
// value and dropped once projected, and GELU overwrites the projection: the 4·D-wide hidden layer, the
// block's largest activation, exists once and alone (dit_workspace.cpp counts this order).
Tensor mlp(UnitCursor& units, const std::string& prefix, Tensor y) {
  Tensor hidden = units.linear(prefix + ".net.0.proj", y);
  y = Tensor();
  ops::gelu_in_place(hidden, ops::GeluApproximation::tanh);
  return units.linear(prefix + ".net.2", hidden);
}

// One [image, text] join of the attention's q, k or v, releasing the two parts.
Tensor join(Tensor& image, Tensor& text) {
  Tensor joint = ops::concat({image, text}, 1);
  image = Tensor();
  text = Tensor();
  return joint;
}

// Joint attention (QwenDoubleStreamAttnProcessor2_0) of the modulated, normed streams xa [B, N, D] and
// ca [B, L, D]: image q/k/v, text q/k/v, per-head RMS norms, RoPE, then one attention over [image, text] ->
// [B, N + L, D]. diffusers joins [text, image]; the order of the keys changes only the order of the softmax's
// sums, and with the text last its padding is the end of each sequence: the attention takes key lengths
// instead of a mask (JointKeys), and a GPU leaves the padding out of its work.
// Activations die as early as the order of the units allows (dit_workspace.cpp counts them): the streams
// after the six projections, each stream's q, k and v once joined, the projections with the function.
Tensor joint_attention(UnitCursor& units, const BlockContext& ctx, const std::string& p, Tensor xa,
                       Tensor ca) {
  const std::int64_t heads = ctx.config.num_attention_heads, head_dim = ctx.config.attention_head_dim;
  const std::int64_t batch = xa.size(0), n_img = xa.size(1), n_txt = ca.size(1);
  const auto heads_of = [&](const Tensor& t) { return t.reshape({batch, t.size(1), heads, head_dim}); };
  Tensor q_img = heads_of(units.linear(p + "attn.to_q", xa));
  Tensor k_img = heads_of(units.linear(p + "attn.to_k", xa));
  Tensor v_img = heads_of(units.linear(p + "attn.to_v", xa));
  xa = Tensor();
  Tensor q_txt = heads_of(units.linear(p + "attn.add_q_proj", ca));
  Tensor k_txt = heads_of(units.linear(p + "attn.add_k_proj", ca));
  Tensor v_txt = heads_of(units.linear(p + "attn.add_v_proj", ca));
  ca = Tensor();
  q_img = units.rms_norm(p + "attn.norm_q", q_img, DitConfig::kNormEps);
  k_img = units.rms_norm(p + "attn.norm_k", k_img, DitConfig::kNormEps);
  q_txt = units.rms_norm(p + "attn.norm_added_q", q_txt, DitConfig::kNormEps);
  k_txt = units.rms_norm(p + "attn.norm_added_k", k_txt, DitConfig::kNormEps);
  q_img = ops::apply_rope(q_img, ctx.rope.image);
  k_img = ops::apply_rope(k_img, ctx.rope.image);
  q_txt = ops::apply_rope(q_txt, ctx.rope.text);
  k_txt = ops::apply_rope(k_txt, ctx.rope.text);
  const Tensor q = join(q_img, q_txt), k = join(k_img, k_txt), v = join(v_img, v_txt);

  ops::AttentionOptions options;
  options.key_lengths = ctx.keys.lengths;
  options.key_mask = ctx.keys.mask;
  return ops::attention(q, k, v, options).reshape({batch, n_img + n_txt, heads * head_dim});
}

}  // namespace

JointKeys joint_keys(const Tensor& text_mask, std::int64_t n_img) {
  const std::int64_t batch = text_mask.size(0), n_txt = text_mask.size(1);
  const std::vector<float> m = text_mask.to(DType::f32).to_floats();
  const auto valid = [&](std::int64_t b, std::int64_t i) {
    return m[static_cast<std::size_t>(b * n_txt + i)] != 0.0f;
  };
  JointKeys keys;
  bool prefixes = true;
  for (std::int64_t b = 0; b < batch && prefixes; ++b) {
    std::int64_t n = 0;
    while (n < n_txt && valid(b, n)) ++n;
    for (std::int64_t i = n; i < n_txt && prefixes; ++i) prefixes = !valid(b, i);
    keys.lengths.push_back(n_img + n);
  }
  const bool padded = std::any_of(keys.lengths.begin(), keys.lengths.end(),
                                  [&](std::int64_t n) { return n < n_img + n_txt; });
  if (prefixes) {
    if (!padded) keys.lengths.clear();  // every token valid: one unmasked attention over the batch
    return keys;
  }
  keys.lengths.clear();
  keys.mask = Tensor::zeros({batch, n_img + n_txt}, DType::u8);
  auto* o = keys.mask.data_as<std::uint8_t>();
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t i = 0; i < n_img; ++i) o[b * (n_img + n_txt) + i] = 1;
    for (std::int64_t i = 0; i < n_txt; ++i) o[b * (n_img + n_txt) + n_img + i] = valid(b, i) ? 1 : 0;
  }
  return keys;
}

void run_block(UnitCursor& units, const BlockContext& ctx, std::int64_t index, Tensor& x, Tensor& c) {
  const std::string p = "transformer_blocks." + std::to_string(index) + ".";
  const std::int64_t dim = ctx.config.inner_dim();
  const std::int64_t n_img = x.size(1), n_txt = c.size(1);

  const auto block = static_cast<std::size_t>(index);
  const Modulation mi = split_modulation(ctx.modulation.image.at(block), dim);
  const Modulation mt = split_modulation(ctx.modulation.text.at(block), dim);
  {
    const Tensor joint =
        joint_attention(units, ctx, p, norm_modulate(x, mi.shift1, mi.scale1), norm_modulate(c, mt.shift1, mt.scale1));
    x = ops::gated_residual(x, mi.gate1, units.linear(p + "attn.to_out.0", joint.slice(1, 0, n_img)));
    c = ops::gated_residual(c, mt.gate1,
                            units.linear(p + "attn.to_add_out", joint.slice(1, n_img, n_img + n_txt)));
  }
  x = ops::gated_residual(x, mi.gate2, mlp(units, p + "img_mlp", norm_modulate(x, mi.shift2, mi.scale2)));
  c = ops::gated_residual(c, mt.gate2, mlp(units, p + "txt_mlp", norm_modulate(c, mt.shift2, mt.scale2)));
}

}  // namespace vramkit::qwen_image
