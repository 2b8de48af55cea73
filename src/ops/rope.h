// Rotary position embeddings (RoPE) in the two conventions of Qwen-Image: a table of per-position cos/sin
// built once per shape (reused by every layer and every step) and one op that applies it.
//
// A RopeTable holds, for each token position p and each frequency j = 0..D/2-1, the angle θ = pos·ω_j as f32
// cos θ and sin θ: cos and sin are [L, D/2] (one position list for the whole batch) or [B, L, D/2] (positions
// per batch element). Its style says which dimensions form the rotated pairs:
//   interleaved (Qwen-Image MMDiT, apply_rotary_emb_qwen with use_real=False): pairs (x[2j], x[2j+1]) as a
//   complex
//     number times e^{iθ_j}:   out[2j] = x[2j]cos − x[2j+1]sin,  out[2j+1] = x[2j]sin + x[2j+1]cos
//   rotate_half (Qwen2 / Qwen2.5-VL language models): pairs (x[j], x[j+D/2]), angle θ_j for both halves:
//     out[j] = x[j]cos − x[j+D/2]sin,  out[j+D/2] = x[j+D/2]cos + x[j]sin
//
// Angles follow the reference arithmetic in f32: ω_j = 1 / theta^(2j/d) with the exponent and the power in
// f32, θ = f32(pos)·ω_j rounded to f32, then cos/sin of that f32 angle (here correctly rounded).
#pragma once

#include <array>
#include <cstdint>

#include "core/tensor.h"

namespace vramkit::ops {

enum class RopeStyle { interleaved, rotate_half };

struct RopeTable {
  RopeStyle style = RopeStyle::interleaved;
  Tensor cos;  // f32 [L, D/2] or [B, L, D/2]
  Tensor sin;
};

// Qwen-Image's 3-axis RoPE (diffusers QwenEmbedRope). Head dims split into axes (frame, height, width) of
// axes_dim (16, 56, 56): pairs [0, 8) rotate with the frame position, [8, 36) with the row, [36, 64) with the
// column, each axis with its own ω_j = 1/theta^(2j/axis_dim). Image tokens in row-major (frame, row, col)
// order, the packing order of pack_latents: frame f -> position f; with scale_rope (the model's setting) row
// r -> r − ceil(height/2) and column c -> c − ceil(width/2) (centred: −ceil(n/2)…floor(n/2)−1), without it r
// and c. Text token i gets position max(height/2, width/2) + i (max(height, width) + i without scale_rope) on
// all three axes. height and width count patches (latent size / 2). Positions must lie in [−4096, 4095], the
// range the reference precomputes (ArgumentError otherwise).
struct QwenImageRopeConfig {
  std::array<std::int64_t, 3> axes_dim{16, 56, 56};
  double theta = 10000.0;
  bool scale_rope = true;
};
struct QwenImageRope {
  RopeTable image;  // [frames·height·width, D/2]
  RopeTable text;   // [text_len, D/2]
};
QwenImageRope qwen_image_rope(std::int64_t frames, std::int64_t height, std::int64_t width,
                              std::int64_t text_len, const QwenImageRopeConfig& config = {});

// 1-D rotate-half RoPE of Qwen2-style language models: ω_j = 1/theta^(2j/head_dim), angle = position·ω_j.
// position_ids: [L] or [B, L], i32 or i64. For Qwen2.5-VL with text-only input the multimodal RoPE's three
// position rows are identical (positions = cumsum(attention_mask) − 1, padded slots 1), so its mrope sections
// select equal angles and it reduces to this 1-D table (theta = rope_theta, 1e6 there).
RopeTable rope_1d(const Tensor& position_ids, std::int64_t head_dim, double theta);

// x [B, L, H, D] (f32/bf16/f16, any strides) rotated by table (D/2 pairs, L positions, batch matching when
// the table has one). Computed in f32, returned in x's dtype.
Tensor apply_rope(const Tensor& x, const RopeTable& table);

}  // namespace vramkit::ops
