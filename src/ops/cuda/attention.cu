// Fused attention (flash style) on the GPU: online softmax over key tiles, no Lq x Lk buffer. Two kernels
// with one contract; both are checked against ops::attention.
//
// Common algorithm: a block owns a tile of query rows of one (batch, query head); it walks the key/value
// tiles of the matching key/value head (grouped-query: h / (Hq / Hkv)), staging each tile in shared memory.
// Per tile and query row: scores s_j = scale · q·k_j (disallowed keys -inf), the tile maximum, the running
// maximum m and sum l rescaled by exp(m_old - m_new), and the output accumulator acc = acc · exp(m_old -
// m_new) + Σ_j exp(s_j - m_new) · v_j; at the end out = acc / l, or zeros for a row that saw no allowed key.
// Causal blocks stop at the last key their last query may see. Keys past Lk are zero rows of K and V (a zero
// probability times a stale value could be NaN otherwise); query rows past Lq are zeros, computed and never
// written.
//
// tensor_cores (the default): 4 warps of 16 query rows, key tiles of 32. S = Q·Kᵀ and O += P·V on the tensor
// cores (WMMA 16x16x16, bf16 / f16 operands, f32 accumulation); the softmax in f32 with two lanes per row;
// the f32 output accumulator lives in shared memory (WMMA's fragment layout is opaque, so rows are rescaled
// there).
// Precision: P is rounded to the input dtype before P·V (as FlashAttention does), which moves the output by
// at most 2^-8 (bf16) or 2^-11 (f16) times max|v|; everything else in f32. Needs sm_80+ and 76 KiB of shared
// memory (head_dim 128).
//
// cuda_cores (the reference): 4 warps of 8 query rows, key tiles of 32; lane j computes key j's scores for
// the warp's rows (K rows padded by one 32-bit word in shared memory, so the 32 lanes read 32 different
// banks); for P·V lane owns dimensions lane + 32·t, probabilities through shared memory. Every product, sum
// and exponential in f32 (expf): the CPU kernel's arithmetic in another order. Reference:
// ops/cpu/attention.cpp.
#include <mma.h>

#include <string>

#include "backends/cuda/cuda_check.h"
#include "ops/cuda/attention_cuda.h"
#include "ops/cuda/kernel_util.cuh"

namespace vramkit::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 8;  // cuda_cores kernel
constexpr int kQueryTile = kWarps * kRowsPerWarp;
constexpr int kKeyTile = 32;        // both kernels; one key per lane in the cuda_cores score phase
constexpr int kTcRowsPerWarp = 16;  // tensor_cores kernel: one WMMA row block per warp
constexpr int kTcQueryTile = kWarps * kTcRowsPerWarp;

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

// The keys a tile of queries [q0, q0 + query_tile) needs: all of them, or with a causal mask (query i sees keys
// j <= i + (Lk - Lq)) those up to the tile's last query's.
__device__ std::int64_t key_end_of(const Params& p, std::int64_t q0, int query_tile) {
  if (!p.causal) return p.d.kv_len;
  const std::int64_t last_seen = q0 + query_tile + (p.d.kv_len - p.d.q_len);  // exclusive
  return last_seen < p.d.kv_len ? last_seen : p.d.kv_len;
}

template <DType T, int D>
__global__ void __launch_bounds__(kWarps * 32) attention_cuda_core_kernel(Params p) {
  using F = Format<T>;
  using S = typename F::Storage;
  constexpr int kPaddedD =
      D + 2;  // one extra 32-bit word per K row: lanes reading row `lane` hit distinct banks
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

  const std::int64_t key_end = key_end_of(p, q0, kQueryTile);

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
      const bool allowed = key_allowed && (!p.causal || key <= i + (d.kv_len - d.q_len));
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

// Shared memory of the tensor_cores kernel for head_dim D, in bytes (every region a multiple of 32 bytes, the
// alignment WMMA loads and stores need).
constexpr std::size_t tc_shared_bytes(int d) {
  return 2u * (kTcQueryTile * d + 2 * kKeyTile * d + kWarps * kTcRowsPerWarp * kKeyTile) +
         4u * (kWarps * kTcRowsPerWarp * kKeyTile + kWarps * kTcRowsPerWarp * d);
}

template <DType T>
struct WmmaType;
template <>
struct WmmaType<DType::bf16> {
  using Type = __nv_bfloat16;
};
template <>
struct WmmaType<DType::f16> {
  using Type = __half;
};

template <DType T, int D>
__global__ void __launch_bounds__(kWarps * 32) attention_tc_kernel(Params p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // bf16 WMMA needs sm_80; launch_attention never picks this kernel there
#else
  namespace wmma = nvcuda::wmma;
  using F = Format<T>;
  using S = typename F::Storage;
  using E = typename WmmaType<T>::Type;
  extern __shared__ __align__(128) unsigned char shared[];
  E* q_tile = reinterpret_cast<E*>(shared);  // [kTcQueryTile][D]
  E* k_tile = q_tile + kTcQueryTile * D;     // [kKeyTile][D]
  E* v_tile = k_tile + kKeyTile * D;         // [kKeyTile][D]
  E* p_all = v_tile + kKeyTile * D;          // [kWarps][16][kKeyTile] probabilities
  float* s_all =
      reinterpret_cast<float*>(p_all + kWarps * kTcRowsPerWarp * kKeyTile);  // [kWarps][16][kKeyTile]
  float* o_all = s_all + kWarps * kTcRowsPerWarp * kKeyTile;                 // [kWarps][16][D]

  const ops::cpu::AttentionDims& d = p.d;
  const std::int64_t b = blockIdx.z, h = blockIdx.y,
                     q0 = static_cast<std::int64_t>(blockIdx.x) * kTcQueryTile;
  const std::int64_t kv_h = h / (d.q_heads / d.kv_heads);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const auto* q = static_cast<const S*>(p.q);
  const auto* k = static_cast<const S*>(p.k);
  const auto* v = static_cast<const S*>(p.v);
  auto* out = static_cast<S*>(p.out);
  auto* q_bits = reinterpret_cast<S*>(q_tile);
  auto* k_bits = reinterpret_cast<S*>(k_tile);
  auto* v_bits = reinterpret_cast<S*>(v_tile);
  E* p_w = p_all + warp * kTcRowsPerWarp * kKeyTile;
  float* s_w = s_all + warp * kTcRowsPerWarp * kKeyTile;
  float* o_w = o_all + warp * kTcRowsPerWarp * D;

  for (int idx = threadIdx.x; idx < kTcQueryTile * D; idx += blockDim.x) {
    const std::int64_t i = q0 + idx / D;
    q_bits[idx] = i < d.q_len ? q[((b * d.q_len + i) * d.q_heads + h) * D + idx % D] : S{0};
  }
  for (int idx = lane; idx < kTcRowsPerWarp * D; idx += 32) o_w[idx] = 0.0f;
  // Lanes read back accumulator entries other lanes zeroed: at the final write when no key tile runs (a
  // causal tile of queries that sees no key), where the loop's __syncthreads does not order them.
  __syncwarp();

  // Softmax mapping: lane owns half (16 keys, D/2 output columns) of row `row` of the warp's 16.
  const int row = lane / 2, half = lane % 2;
  const std::int64_t i = q0 + warp * kTcRowsPerWarp + row;
  float m = -INFINITY, l = 0.0f;

  const std::int64_t key_end = key_end_of(p, q0, kTcQueryTile);

  for (std::int64_t k0 = 0; k0 < key_end; k0 += kKeyTile) {
    __syncthreads();  // the previous tile is no longer read (and, the first time, q_tile is complete)
    for (int idx = threadIdx.x; idx < kKeyTile * D; idx += blockDim.x) {
      const std::int64_t key = k0 + idx / D;
      const bool inside = key < d.kv_len;
      const std::int64_t at = ((b * d.kv_len + key) * d.kv_heads + kv_h) * D + idx % D;
      k_bits[idx] = inside ? k[at] : S{0};
      v_bits[idx] = inside ? v[at] : S{0};
    }
    __syncthreads();

    // S = Q·Kᵀ for the warp's 16 rows: Kᵀ is the K tile read column-major.
    for (int n = 0; n < kKeyTile / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> s_frag;
      wmma::fill_fragment(s_frag, 0.0f);
      for (int kk = 0; kk < D / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, E, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, E, wmma::col_major> bt;
        wmma::load_matrix_sync(a, q_tile + warp * kTcRowsPerWarp * D + kk * 16, D);
        wmma::load_matrix_sync(bt, k_tile + n * 16 * D + kk * 16, D);
        wmma::mma_sync(s_frag, a, bt, s_frag);
      }
      wmma::store_matrix_sync(s_w + n * 16, s_frag, kKeyTile, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax of the lane's half row; the partner lane (lane ^ 1) holds the other half.
    float scores[16];
    float tile_max = -INFINITY;
    for (int c = 0; c < 16; ++c) {
      const std::int64_t key = k0 + half * 16 + c;
      const bool allowed = key < d.kv_len && (!p.key_valid || p.key_valid[b * d.kv_len + key] != 0) &&
                           (!p.causal || key <= i + (d.kv_len - d.q_len));
      scores[c] = allowed ? s_w[row * kKeyTile + half * 16 + c] * p.scale : -INFINITY;
      tile_max = fmaxf(tile_max, scores[c]);
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    const float m_new = fmaxf(m, tile_max);
    float sum = 0.0f;
    for (int c = 0; c < 16; ++c) {
      const float prob = scores[c] == -INFINITY ? 0.0f : expf(scores[c] - m_new);
      p_w[row * kKeyTile + half * 16 + c] = E(prob);
      sum += prob;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    const float rescale = m == -INFINITY ? 0.0f : expf(m - m_new);
    l = l * rescale + sum;
    m = m_new;
    if (rescale != 1.0f)
      for (int e = half * (D / 2); e < (half + 1) * (D / 2); ++e) o_w[row * D + e] *= rescale;
    __syncwarp();

    // O += P·V, the accumulator loaded from and stored back to shared memory.
    for (int n = 0; n < D / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> o_frag;
      wmma::load_matrix_sync(o_frag, o_w + n * 16, D, wmma::mem_row_major);
      for (int kk = 0; kk < kKeyTile / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, E, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, E, wmma::row_major> vb;
        wmma::load_matrix_sync(a, p_w + kk * 16, kKeyTile);
        wmma::load_matrix_sync(vb, v_tile + kk * 16 * D + n * 16, D);
        wmma::mma_sync(o_frag, a, vb, o_frag);
      }
      wmma::store_matrix_sync(o_w + n * 16, o_frag, D, wmma::mem_row_major);
    }
    __syncwarp();
  }

  if (i < d.q_len) {
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;  // no allowed key: zeros by definition
    S* o = out + ((b * d.q_len + i) * d.q_heads + h) * D;
    for (int e = half * (D / 2); e < (half + 1) * (D / 2); ++e) o[e] = F::encode(o_w[row * D + e] * inv);
  }
#endif
}

template <DType T, int D>
void launch_typed(const Params& p, AttentionKernel kernel, cudaStream_t stream) {
  if (kernel == AttentionKernel::tensor_cores) {
    constexpr std::size_t bytes = tc_shared_bytes(D);
    VRAMKIT_CUDA_CHECK(cudaFuncSetAttribute(
        attention_tc_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
    const dim3 grid(static_cast<unsigned>((p.d.q_len + kTcQueryTile - 1) / kTcQueryTile),
                    static_cast<unsigned>(p.d.q_heads), static_cast<unsigned>(p.d.batch));
    attention_tc_kernel<T, D><<<grid, kWarps * 32, bytes, stream>>>(p);
  } else {
    const dim3 grid(static_cast<unsigned>((p.d.q_len + kQueryTile - 1) / kQueryTile),
                    static_cast<unsigned>(p.d.q_heads), static_cast<unsigned>(p.d.batch));
    attention_cuda_core_kernel<T, D><<<grid, kWarps * 32, 0, stream>>>(p);
  }
  VRAMKIT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

bool attention_supported(DType dtype, std::int64_t head_dim) {
  return (dtype == DType::bf16 || dtype == DType::f16) && (head_dim == 64 || head_dim == 128);
}

void launch_attention(const void* q, const void* k, const void* v, void* out, DType dtype,
                      const ops::cpu::AttentionDims& dims, const std::uint8_t* key_valid, bool causal,
                      float scale, AttentionKernel kernel, cudaStream_t stream) {
  const std::string shape = "q [" + std::to_string(dims.batch) + ", " + std::to_string(dims.q_len) + ", " +
                            std::to_string(dims.q_heads) + ", " + std::to_string(dims.head_dim) + "], k/v [" +
                            std::to_string(dims.batch) + ", " + std::to_string(dims.kv_len) + ", " +
                            std::to_string(dims.kv_heads) + ", " + std::to_string(dims.head_dim) + "]";
  if (dtype != DType::bf16 && dtype != DType::f16)
    throw DTypeError("cuda attention: dtype " + std::string(dtype_name(dtype)) +
                     " is not supported (bf16, f16)");
  if (dims.head_dim != 64 && dims.head_dim != 128)
    throw ArgumentError("cuda attention: head_dim " + std::to_string(dims.head_dim) + " of " + shape +
                        " is not supported (64, 128)");
  if (dims.batch < 0 || dims.q_len < 0 || dims.kv_len < 0 || dims.q_heads < 0 || dims.kv_heads <= 0 ||
      dims.q_heads % dims.kv_heads != 0)
    throw ArgumentError("cuda attention: bad sizes " + shape +
                        " (query heads a multiple of key/value heads)");
  if (dims.batch > 65535 || dims.q_heads > 65535)
    throw ArgumentError("cuda attention: " + shape + " has more than 65535 batch elements or heads");
  if (dims.batch == 0 || dims.q_len == 0 || dims.q_heads == 0) return;
  const Params p{q, k, v, out, dims, key_valid, causal, scale};
  if (dtype == DType::bf16)
    return dims.head_dim == 64 ? launch_typed<DType::bf16, 64>(p, kernel, stream)
                               : launch_typed<DType::bf16, 128>(p, kernel, stream);
  return dims.head_dim == 64 ? launch_typed<DType::f16, 64>(p, kernel, stream)
                             : launch_typed<DType::f16, 128>(p, kernel, stream);
}

}  // namespace vramkit::cuda
