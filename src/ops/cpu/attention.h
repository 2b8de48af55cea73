// Raw CPU attention kernel on contiguous f32 buffers; the contract (layout, masks, fully masked rows) is the
// one documented in ops/attention.h.
#pragma once

#include <cstdint>

namespace vramkit::ops::cpu {

struct AttentionDims {
  std::int64_t batch = 0;
  std::int64_t q_len = 0;
  std::int64_t kv_len = 0;
  std::int64_t q_heads = 0;
  std::int64_t kv_heads = 0;  // divides q_heads
  std::int64_t head_dim = 0;
};

// q [B, Lq, Hq, D], k and v [B, Lk, Hkv, D], out [B, Lq, Hq, D], all contiguous f32. key_valid: null (every
// key valid) or B*Lk bytes, non-zero = valid. Must not be called inside an OpenMP parallel region (it calls
// sgemm).
void attention_f32(const float* q, const float* k, const float* v, float* out, const AttentionDims& dims,
                   const std::uint8_t* key_valid, bool causal, float scale);

}  // namespace vramkit::ops::cpu
