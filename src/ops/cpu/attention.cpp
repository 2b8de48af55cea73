// CPU attention: flash-attention-style blocking with an online softmax, on contiguous f32 buffers.
//
// Algorithm. For every (batch, query head) and every block of kQueryBlock query rows, the key/value sequence
// is walked in blocks of kKeyBlock keys:
//   S  = scale · Q_blk · K_blkᵀ                      (cblas_sgemm, rows x keys, straight from the [B, L, H,
//   D]
//                                                      layout through the leading dimensions: no repacking)
//   per row: masked scores -> -inf; m' = max(m, max S); c = exp(m - m'); P = exp(S - m');
//            l = c·l + Σ P;  O_row *= c                (the running max m and sum l are f32 per row)
//   O_blk += P · V_blk                                (cblas_sgemm with beta = 1, written in place in `out`)
// and finally O_row /= l, or zeros for a row that never saw an allowed key. Key blocks wholly above the
// causal diagonal or wholly padding are skipped. Scratch is one kQueryBlock x kKeyBlock score block plus
// three vectors of kQueryBlock floats, taken from the host allocator so that its accounting sees them: memory
// is O(block), independent of the sequence lengths.
//
// Threading. sgemm threads itself (OpenBLAS) and is called from this thread only; the per-row softmax runs on
// this thread too: an OpenMP loop between the sgemm calls measured 6x slower on a loaded 2-core machine, the
// two thread pools spinning against each other. The alternative of threading over (batch, head, query block)
// with auto-vectorized 4x16 register-tile loops instead of sgemm reached 2.0-2.7 GFLOP/s against 3.4-10 for
// this design (24 heads x 128, L = 1024, same loaded 2-core run), so sgemm it is.
//
// Precision. f32 throughout. exp is a Cephes-style polynomial with range reduction (max relative error about
// 2e-7, i.e. ~1-2 ulp), written so that the compiler vectorizes it; arguments below -87 (exp < 1.7e-38,
// negligible against a row sum >= 1) flush to 0, which also makes masked (-inf) scores exactly 0.
#include "ops/cpu/attention.h"

#include <cblas.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "core/tensor.h"

namespace vramkit::ops::cpu {
namespace {

constexpr std::int64_t kQueryBlock = 256;
constexpr std::int64_t kKeyBlock = 512;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// exp(x) = 2^n · e^r with n = round(x·log2 e) and r = x - n·ln 2 split in two constants (Cody-Waite), e^r by
// Cephes' degree-6 minimax polynomial. Branch-free so that loops calling it vectorize.
#pragma omp declare simd notinbranch
inline float exp_approx(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRoundMagic = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  constexpr float kLow = -87.0f;
  constexpr float kHigh = 88.0f;
  const float xc = std::min(std::max(x, kLow), kHigh);
  const float n = (xc * kLog2e + kRoundMagic) - kRoundMagic;
  const float r = (xc - n * kLn2Hi) - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float two_n = std::bit_cast<float>((static_cast<std::int32_t>(n) + 127) << 23);
  return x < kLow ? 0.0f : p * two_n;
}

struct RowState {
  float* max;  // running max m per row of the query block
  float* sum;  // running sum l
};

// One row of the online softmax over a key block: masks scores, updates (m, l), rescales the output row and
// leaves P in `s`. `allowed` is the number of leading keys of the block that the causal mask allows (the
// block width when not causal); `valid` flags keys of the block (null: all valid).
__attribute__((target_clones("avx2", "default"))) void softmax_block_row(float* s, std::int64_t width,
                                                                         std::int64_t allowed,
                                                                         const std::uint8_t* valid, float* m,
                                                                         float* l, float* out_row,
                                                                         std::int64_t head_dim) {
  for (std::int64_t j = std::max<std::int64_t>(allowed, 0); j < width; ++j) s[j] = kNegInf;
  if (valid) {
    for (std::int64_t j = 0; j < width; ++j) s[j] = valid[j] ? s[j] : kNegInf;
  }
  float block_max = kNegInf;
#pragma omp simd reduction(max : block_max)
  for (std::int64_t j = 0; j < width; ++j) block_max = std::max(block_max, s[j]);
  const float new_max = std::max(*m, block_max);
  if (new_max == kNegInf) {  // no allowed key so far: P = 0, state unchanged
    for (std::int64_t j = 0; j < width; ++j) s[j] = 0.0f;
    return;
  }
  float block_sum = 0.0f;
#pragma omp simd reduction(+ : block_sum)
  for (std::int64_t j = 0; j < width; ++j) {
    const float p = exp_approx(s[j] - new_max);
    s[j] = p;
    block_sum += p;
  }
  const float correction = exp_approx(*m - new_max);  // 0 when m was -inf
  *l = *l * correction + block_sum;
  *m = new_max;
  if (correction != 1.0f)
    for (std::int64_t d = 0; d < head_dim; ++d) out_row[d] *= correction;
}

struct HeadView {
  const float* q;  // first row of this head's query block, leading dimension q_ld
  const float* k;  // first key of this head's kv head, leading dimension kv_ld
  const float* v;
  float* out;
  const std::uint8_t* key_valid;  // this batch's Lk flags or null
};

// Whether key block [k0, k0 + width) holds at least one valid key.
bool any_valid(const std::uint8_t* key_valid, std::int64_t k0, std::int64_t width) {
  if (!key_valid) return true;
  return std::any_of(key_valid + k0, key_valid + k0 + width, [](std::uint8_t f) { return f != 0; });
}

void attend_query_block(const HeadView& h, const AttentionDims& d, std::int64_t q0, std::int64_t rows,
                        bool causal, float scale, float* scores, RowState state) {
  const std::int64_t q_ld = d.q_heads * d.head_dim;
  const std::int64_t kv_ld = d.kv_heads * d.head_dim;
  const std::int64_t diag = d.kv_len - d.q_len;  // query i may see keys j <= i + diag when causal
  const std::int64_t D = d.head_dim;
  for (std::int64_t r = 0; r < rows; ++r) {
    state.max[r] = kNegInf;
    state.sum[r] = 0.0f;
    std::fill_n(h.out + r * q_ld, D, 0.0f);
  }
  const std::int64_t key_end = causal ? std::min(d.kv_len, q0 + rows + diag) : d.kv_len;
  for (std::int64_t k0 = 0; k0 < key_end; k0 += kKeyBlock) {
    const std::int64_t width = std::min(kKeyBlock, key_end - k0);
    if (!any_valid(h.key_valid, k0, width)) continue;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(width),
                static_cast<int>(D), scale, h.q, static_cast<int>(q_ld), h.k + k0 * kv_ld,
                static_cast<int>(kv_ld), 0.0f, scores, static_cast<int>(width));
    const std::uint8_t* valid = h.key_valid ? h.key_valid + k0 : nullptr;
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t allowed = causal ? q0 + r + diag - k0 + 1 : width;
      softmax_block_row(scores + r * width, width, std::min(allowed, width), valid, state.max + r,
                        state.sum + r, h.out + r * q_ld, D);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(D),
                static_cast<int>(width), 1.0f, scores, static_cast<int>(width), h.v + k0 * kv_ld,
                static_cast<int>(kv_ld), 1.0f, h.out, static_cast<int>(q_ld));
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    const float inv = state.sum[r] > 0.0f ? 1.0f / state.sum[r] : 0.0f;  // no allowed key: zeros
    float* o = h.out + r * q_ld;
    for (std::int64_t c = 0; c < D; ++c) o[c] *= inv;
  }
}

}  // namespace

void attention_f32(const float* q, const float* k, const float* v, float* out, const AttentionDims& d,
                   const std::uint8_t* key_valid, bool causal, float scale) {
  if (d.batch == 0 || d.q_len == 0 || d.q_heads == 0 || d.head_dim == 0) return;
  const std::int64_t q_block = std::min(kQueryBlock, d.q_len);
  const std::int64_t key_block = std::min(kKeyBlock, std::max<std::int64_t>(d.kv_len, 1));
  Tensor scratch = Tensor::empty({q_block * key_block + 2 * q_block}, DType::f32);
  float* scores = scratch.data_as<float>();
  const RowState state{scores + q_block * key_block, scores + q_block * key_block + q_block};
  const std::int64_t group = d.q_heads / d.kv_heads;
  for (std::int64_t b = 0; b < d.batch; ++b) {
    for (std::int64_t hq = 0; hq < d.q_heads; ++hq) {
      const std::int64_t hkv = hq / group;
      for (std::int64_t q0 = 0; q0 < d.q_len; q0 += q_block) {
        const std::int64_t q_off = ((b * d.q_len + q0) * d.q_heads + hq) * d.head_dim;
        const std::int64_t kv_off = (b * d.kv_len * d.kv_heads + hkv) * d.head_dim;
        const HeadView view{q + q_off, k + kv_off, v + kv_off, out + q_off,
                            key_valid ? key_valid + b * d.kv_len : nullptr};
        attend_query_block(view, d, q0, std::min(q_block, d.q_len - q0), causal, scale, scores, state);
      }
    }
  }
}

}  // namespace vramkit::ops::cpu
