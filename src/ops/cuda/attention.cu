// Fused attention (flash style) on the GPU: online softmax over key tiles, no Lq x Lk buffer.
// Algorithm: a block owns kQueryTile query rows of one (batch, query head); it walks the key/value tiles of
// kKeyTile keys of the matching key/value head (grouped-query: h / (Hq / Hkv)), staging each tile in shared
// memory. Per tile and query row: scores s_j = scale · q·k_j (disallowed keys -inf), the tile maximum, the running
// maximum m and sum l rescaled by exp(m_old - m_new), and the output accumulator acc = acc · exp(m_old - m_new) +
// Σ_j exp(s_j - m_new) · v_j; at the end out = acc / l, or zeros for a row that saw no allowed key. Causal blocks
// stop at the last key their last query may see.
// Thread mapping: 4 warps of 8 query rows each. Scores: lane j computes key j of the tile (kKeyTile == 32) for
// the warp's 8 rows (K rows padded by one 32-bit word in shared memory, so the 32 lanes read 32 different banks).
// P·V: lane owns dimensions lane + 32·t of the accumulator; the probabilities go through shared memory.
// Precision: bf16 / f16 inputs decoded exactly, every product, sum and exponential in f32 (expf), one rounding of
// the output: the CPU kernel's arithmetic in another order. CUDA cores, no tensor cores: a correct fallback, not
// the fast path (see docs/gpu-notes.md). Reference: ops/cpu/attention.cpp.
#include <string>

#include "backends/cuda/cuda_check.h"
#include "ops/cuda/attention_cuda.h"
#include "ops/cuda/kernel_util.cuh"

namespace vramkit::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 8;
constexpr int kQueryTile = kWarps * kRowsPerWarp;
constexpr int kKeyTile = 32;  // one key per lane in the score phase

struct Params {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  ops::cpu::AttentionDims d;
  const std::uint8_t* key_valid;
  bool causal;
  float scale;
};

template <DType T, int D>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(Params p) {
  using F = Format<T>;
  using S = typename F::Storage;
  constexpr int kPaddedD = D + 2;  // one extra 32-bit word per K row: lanes reading row `lane` hit distinct banks
  constexpr int kDimsPerLane = D / 32;
  __shared__ S q_tile[kQueryTile][D];
  __shared__ S k_tile[kKeyTile][kPaddedD];
  __shared__ S v_tile[kKeyTile][D];
  __shared__ float probabilities[kWarps][kRowsPerWarp][kKeyTile];

  const ops::cpu::AttentionDims& d = p.d;
  const std::int64_t b = blockIdx.z, h = blockIdx.y, q0 = static_cast<std::int64_t>(blockIdx.x) * kQueryTile;
  const std::int64_t kv_h = h / (d.q_heads / d.kv_heads);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const auto* q = static_cast<const S*>(p.q);
  const auto* k = static_cast<const S*>(p.k);
  const auto* v = static_cast<const S*>(p.v);
  auto* out = static_cast<S*>(p.out);

  // Query rows past Lq are zeros; they are computed and never written.
  for (int idx = threadIdx.x; idx < kQueryTile * D; idx += blockDim.x) {
    const int r = idx / D, e = idx % D;
    const std::int64_t i = q0 + r;
    q_tile[r][e] = i < d.q_len ? q[((b * d.q_len + i) * d.q_heads + h) * D + e] : S{0};
  }

  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][kDimsPerLane];
  for (int r = 0; r < kRowsPerWarp; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
    for (int t = 0; t < kDimsPerLane; ++t) acc[r][t] = 0.0f;
  }

  // Causal: query i sees keys j <= i + (Lk - Lq); the block's last query bounds the keys it needs.
  const std::int64_t causal_shift = d.kv_len - d.q_len;
  std::int64_t key_end = d.kv_len;
  if (p.causal) {
    const std::int64_t last_seen = q0 + kQueryTile + causal_shift;  // exclusive
    if (last_seen < key_end) key_end = last_seen;
  }

  for (std::int64_t k0 = 0; k0 < key_end; k0 += kKeyTile) {
    __syncthreads();  // the previous tile is no longer read (and, the first time, q_tile is complete)
    // Keys past Lk are zeros in V (a zero probability times a stale value could be NaN otherwise).
    for (int idx = threadIdx.x; idx < kKeyTile * D; idx += blockDim.x) {
      const int j = idx / D, e = idx % D;
      const std::int64_t key = k0 + j;
      const bool inside = key < d.kv_len;
      const std::int64_t at = ((b * d.kv_len + key) * d.kv_heads + kv_h) * D + e;
      k_tile[j][e] = inside ? k[at] : S{0};
      v_tile[j][e] = inside ? v[at] : S{0};
    }
    __syncthreads();

    // Scores: lane = key of the tile, for the warp's rows.
    const std::int64_t key = k0 + lane;
    bool key_allowed = key < d.kv_len && (!p.key_valid || p.key_valid[b * d.kv_len + key] != 0);
    float s[kRowsPerWarp];
    for (int r = 0; r < kRowsPerWarp; ++r) s[r] = 0.0f;
    for (int e = 0; e < D; ++e) {
      const float ke = F::decode(k_tile[lane][e]);
      for (int r = 0; r < kRowsPerWarp; ++r) s[r] += F::decode(q_tile[warp * kRowsPerWarp + r][e]) * ke;
    }
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const std::int64_t i = q0 + warp * kRowsPerWarp + r;
      const bool allowed = key_allowed && (!p.causal || key <= i + causal_shift);
      s[r] = allowed ? s[r] * p.scale : -INFINITY;
      // Online softmax update of row r (every lane holds the same m, l after the butterfly reductions).
      const float m_new = fmaxf(m[r], warp_max(s[r]));
      const float prob = s[r] == -INFINITY ? 0.0f : expf(s[r] - m_new);
      const float rescale = m[r] == -INFINITY ? 0.0f : expf(m[r] - m_new);
      l[r] = l[r] * rescale + warp_sum(prob);
      m[r] = m_new;
      for (int t = 0; t < kDimsPerLane; ++t) acc[r][t] *= rescale;
      probabilities[warp][r][lane] = prob;
    }
    __syncwarp();
    // P·V: lane owns dimensions lane + 32·t.
    for (int j = 0; j < kKeyTile; ++j) {
      float vj[kDimsPerLane];
      for (int t = 0; t < kDimsPerLane; ++t) vj[t] = F::decode(v_tile[j][lane + 32 * t]);
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const float pr = probabilities[warp][r][j];
        for (int t = 0; t < kDimsPerLane; ++t) acc[r][t] += pr * vj[t];
      }
    }
    __syncwarp();  // probabilities are rewritten by the next tile
  }

  for (int r = 0; r < kRowsPerWarp; ++r) {
    const std::int64_t i = q0 + warp * kRowsPerWarp + r;
    if (i >= d.q_len) continue;
    const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;  // no allowed key: zeros by definition
    S* o = out + ((b * d.q_len + i) * d.q_heads + h) * D;
    for (int t = 0; t < kDimsPerLane; ++t) o[lane + 32 * t] = F::encode(acc[r][t] * inv);
  }
}

template <DType T, int D>
void launch_typed(const Params& p, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((p.d.q_len + kQueryTile - 1) / kQueryTile), static_cast<unsigned>(p.d.q_heads),
                  static_cast<unsigned>(p.d.batch));
  attention_kernel<T, D><<<grid, kWarps * 32, 0, stream>>>(p);
  VRAMKIT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

bool attention_supported(DType dtype, std::int64_t head_dim) {
  return (dtype == DType::bf16 || dtype == DType::f16) && (head_dim == 64 || head_dim == 128);
}

void launch_attention(const void* q, const void* k, const void* v, void* out, DType dtype,
                      const ops::cpu::AttentionDims& dims, const std::uint8_t* key_valid, bool causal, float scale,
                      cudaStream_t stream) {
  const std::string shape = "q [" + std::to_string(dims.batch) + ", " + std::to_string(dims.q_len) + ", " +
                            std::to_string(dims.q_heads) + ", " + std::to_string(dims.head_dim) + "], k/v [" +
                            std::to_string(dims.batch) + ", " + std::to_string(dims.kv_len) + ", " +
                            std::to_string(dims.kv_heads) + ", " + std::to_string(dims.head_dim) + "]";
  if (dtype != DType::bf16 && dtype != DType::f16)
    throw DTypeError("cuda attention: dtype " + std::string(dtype_name(dtype)) + " is not supported (bf16, f16)");
  if (dims.head_dim != 64 && dims.head_dim != 128)
    throw ArgumentError("cuda attention: head_dim " + std::to_string(dims.head_dim) + " of " + shape +
                        " is not supported (64, 128)");
  if (dims.batch < 0 || dims.q_len < 0 || dims.kv_len < 0 || dims.q_heads < 0 || dims.kv_heads <= 0 ||
      dims.q_heads % dims.kv_heads != 0)
    throw ArgumentError("cuda attention: bad sizes " + shape + " (query heads a multiple of key/value heads)");
  if (dims.batch > 65535 || dims.q_heads > 65535)
    throw ArgumentError("cuda attention: " + shape + " has more than 65535 batch elements or heads");
  if (dims.batch == 0 || dims.q_len == 0 || dims.q_heads == 0) return;
  const Params p{q, k, v, out, dims, key_valid, causal, scale};
  if (dtype == DType::bf16)
    return dims.head_dim == 64 ? launch_typed<DType::bf16, 64>(p, stream) : launch_typed<DType::bf16, 128>(p, stream);
  return dims.head_dim == 64 ? launch_typed<DType::f16, 64>(p, stream) : launch_typed<DType::f16, 128>(p, stream);
}

}  // namespace vramkit::cuda
