// Scaled dot-product attention, multi-head and grouped-query, with optional causal and key-padding masks.
//
// Layout (the one the models produce after their q/k/v projections, before any transpose):
//   q   [B, Lq, Hq, D]     k, v [B, Lk, Hkv, D]     out [B, Lq, Hq, D] in q's dtype
// Hq must be a multiple of Hkv; query head h reads key/value head h / (Hq / Hkv) (grouped-query attention, as
// in Qwen2.5-VL's 28 query / 4 key-value heads; Hkv == Hq is ordinary multi-head attention).
//
//   out[b, i, h, :] = Σ_j softmax_j(scale · q[b,i,h,:]·k[b,j,h',:] over the allowed keys j) · v[b,j,h',:]
//
// Allowed keys of query i in batch b:
//   - key padding mask (optional): key_mask [B, Lk], dtype bool/u8/i32/i64; a non-zero entry marks a valid
//   key
//     (the convention of transformers' attention_mask and diffusers' encoder_hidden_states_mask). A mask
//     rather than lengths, so that left padding (Qwen2.5-VL batches) is expressible.
//   - key lengths (optional, instead of a mask): key_lengths[b] valid keys, the first ones, in batch b (keys
//     j >= key_lengths[b] are padding). Host values, so a device needs no mask buffer and can leave the
//     padding out of the computation altogether (cuDNN's unmasked kernel on each sequence's valid keys,
//     faster than its masked one).
//   - causal (optional): key j is allowed when j <= i + (Lk - Lq), i.e. the mask is aligned to the bottom
//   right
//     (the last query sees every key; for Lq == Lk this is the usual lower-triangular mask).
// A query row with no allowed key (causal + padding leaving nothing, or an all-padding batch) gives zeros, by
// definition (PyTorch's SDPA would give NaN there).
//
// scale defaults to 1/sqrt(D). Inputs may be f32, bf16 or f16, any strides; computation and accumulation are
// f32. Memory: O(block) per call; Lq x Lk scores are never materialized (blocked online softmax, see
// cpu/attention.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/tensor.h"

namespace vramkit::ops {

struct AttentionOptions {
  bool causal = false;
  Tensor key_mask;  // undefined: every key is valid; else [B, Lk] bool/u8/i32/i64, non-zero = valid
  std::optional<float> scale;  // default 1/sqrt(D)
  std::vector<std::int64_t> key_lengths;  // empty: none; else B counts in [0, Lk] (not with key_mask)
};

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& options = {});

// The host key mask [B, kv_len] (bool) of key lengths: the first lengths[b] keys of batch b valid.
Tensor key_mask_of_lengths(const std::vector<std::int64_t>& lengths, std::int64_t kv_len);

}  // namespace vramkit::ops
