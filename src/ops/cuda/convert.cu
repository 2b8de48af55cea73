// Elementwise dtype conversion on the GPU.
// Algorithm: one templated kernel per (source, destination) pair; each thread converts elements in a
// grid-stride loop, decoding to f32 and encoding from f32 (every narrow format is a subset of f32, so
// decoding is exact). Where both buffers are aligned to a pack of kPack elements (and, with row scales, the
// rows hold whole packs), each thread converts a pack with one wide load and one wide store, its row (and
// scale) given by the 2-D grid: the scalar kernel's 1- to 4-byte accesses and per-element 64-bit division
// reached 0.28 of the copy rate for the fp8 -> bf16 upcast on an H100. From fp8, a pack without a NaN code
// converts two codes per instruction (convert_fp8_pairs: about 7 instructions per element against 20 to 28
// element by element, per the SASS). Same arithmetic per element, same bits. Precision: f32->bf16 uses the
// same integer round-to-nearest-even as the CPU (bit-identical, NaN kept quiet with its sign); f32->f16 uses
// the hardware RN conversion; f32->fp8 uses the CUDA fp8 intrinsics with __NV_SATFINITE (finite overflow and
// Inf -> ±max, NaN -> NaN) or __NV_NOSAT (overflow -> NaN for e4m3fn, Inf for e5m2), which is the contract of
// core/convert.h; tests/cuda checks every code against the CPU.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "backends/cuda/cuda_check.h"
#include "ops/cuda/convert_cuda.h"
#include "ops/cuda/dtype_format.cuh"
#include "vramkit/error.h"

namespace vramkit::cuda {

bool convert_supported(DType dt) {
  return dt == DType::f32 || dt == DType::bf16 || dt == DType::f16 || dt == DType::f8_e4m3fn ||
         dt == DType::f8_e5m2;
}

namespace {

// With `scales`, element i belongs to row i / cols and is multiplied by that row's scale (__fmul_rn: a plain
// rounded multiply, never contracted, as on the CPU). A NaN skips the multiply: the GPU's would return the
// unsigned canonical NaN, the CPU's keeps the NaN's sign.
template <DType From, DType To>
__global__ void convert_kernel(const typename Format<From>::Storage* __restrict__ src,
                               typename Format<To>::Storage* __restrict__ dst, std::size_t n, bool saturate,
                               const float* __restrict__ scales, std::size_t cols) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    float v = Format<From>::decode(src[i]);
    if (scales && !is_nan_f32(v)) v = __fmul_rn(v, scales[i / cols]);
    dst[i] = Format<To>::encode(v, saturate);
  }
}

// One pack converted element by element, as convert_kernel does (`scale` multiplies when `scaled`).
template <DType From, DType To>
__device__ inline Pack<typename Format<To>::Storage> convert_each(
    const Pack<typename Format<From>::Storage>& in, bool saturate, bool scaled, float scale) {
  Pack<typename Format<To>::Storage> out;
#pragma unroll
  for (int j = 0; j < kPack; ++j) {
    float v = Format<From>::decode(in.v[j]);
    if (scaled && !is_nan_f32(v)) v = __fmul_rn(v, scale);
    out.v[j] = Format<To>::encode(v, saturate);
  }
  return out;
}

template <DType D>
inline constexpr bool kIsFp8 = D == DType::f8_e4m3fn || D == DType::f8_e5m2;

// Whether one of the 8 fp8 codes of `pack` is a NaN (e4m3fn: the low 7 bits all ones; e5m2: above 0x7c). With
// each byte's sign cleared, adding 1 (e4m3fn) or 3 (e5m2) to every byte carries into its bit 7 exactly for
// those codes, and never into the next byte (0x7f + 3 < 0x100).
template <DType D>
__device__ inline bool has_nan_code(std::uint64_t pack) {
  constexpr std::uint64_t kBytes = 0x0101010101010101ull;
  const std::uint64_t magnitudes = pack & (0x7f * kBytes);
  return ((magnitudes + (D == DType::f8_e4m3fn ? 1 : 3) * kBytes) & (0x80 * kBytes)) != 0;
}

// fp8 -> f32 / bf16 / f16, the weights' upcast, two codes per instruction: the pair decoded to f16x2 (exact:
// both fp8 formats are subsets of f16), widened to f32 (exact), scaled (__fmul_rn), rounded to the pair of
// outputs (round to nearest even, as Format<To>::encode). For a pack without a NaN code this gives
// convert_each's bits: it differs only in how NaNs keep their sign, so packs with one go through
// convert_each. The element-by-element decode, NaN checks and integer rounding took about 20 instructions
// per element, enough for the upcast to be bound by instruction issue rather than memory.
template <DType From, DType To>
__device__ inline Pack<typename Format<To>::Storage> convert_fp8_pairs(std::uint64_t codes, bool scaled,
                                                                       float scale) {
  constexpr __nv_fp8_interpretation_t kind = From == DType::f8_e4m3fn ? __NV_E4M3 : __NV_E5M2;
  // Output words: two elements each for bf16 / f16 (.x in the low half), one for f32.
  constexpr int kWordsPerPair = To == DType::f32 ? 2 : 1;
  std::uint32_t words[kPack / 2 * kWordsPerPair];
#pragma unroll
  for (int pair = 0; pair < kPack / 2; ++pair) {
    const auto two = static_cast<__nv_fp8x2_storage_t>(codes >> (16 * pair));  // the low byte is .x
    float2 f = __half22float2(__half2(__nv_cvt_fp8x2_to_halfraw2(two, kind)));
    if (scaled) f = make_float2(__fmul_rn(f.x, scale), __fmul_rn(f.y, scale));
    if constexpr (To == DType::f32) {
      words[2 * pair] = __float_as_uint(f.x);
      words[2 * pair + 1] = __float_as_uint(f.y);
    } else if constexpr (To == DType::bf16) {
      const __nv_bfloat162 rounded = __float22bfloat162_rn(f);
      memcpy(&words[pair], &rounded, sizeof(std::uint32_t));
    } else {
      const __half2 rounded = __float22half2_rn(f);
      memcpy(&words[pair], &rounded, sizeof(std::uint32_t));
    }
  }
  Pack<typename Format<To>::Storage> out;
  memcpy(&out, words, sizeof out);
  return out;
}

// The packed twin of convert_kernel: `rows` rows of `row_packs` packs, threadIdx.x / blockIdx.x over the
// packs of a row and threadIdx.y / blockIdx.y over rows (grid-stride loops in both), so that a thread's row,
// hence its scale, comes without a division. A conversion without scales is one row.
template <DType From, DType To>
__global__ void convert_pack_kernel(const Pack<typename Format<From>::Storage>* __restrict__ src,
                                    Pack<typename Format<To>::Storage>* __restrict__ dst, std::size_t rows,
                                    std::size_t row_packs, bool saturate, const float* __restrict__ scales) {
  const std::size_t row_stride = static_cast<std::size_t>(gridDim.y) * blockDim.y;
  const std::size_t pack_stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const bool scaled = scales != nullptr;
  for (std::size_t r = static_cast<std::size_t>(blockIdx.y) * blockDim.y + threadIdx.y; r < rows;
       r += row_stride) {
    const float scale = scaled ? scales[r] : 1.0f;
    const auto* row_in = src + r * row_packs;
    auto* row_out = dst + r * row_packs;
    for (std::size_t p = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < row_packs;
         p += pack_stride) {
      if constexpr (kIsFp8<From> && (To == DType::f32 || To == DType::bf16 || To == DType::f16)) {
        // The 8 codes as one word (a pack of fp8 is 8-byte aligned): bytes taken apart only where needed.
        const std::uint64_t codes = reinterpret_cast<const std::uint64_t*>(row_in)[p];
        if (!has_nan_code<From>(codes)) {
          row_out[p] = convert_fp8_pairs<From, To>(codes, scaled, scale);
        } else {
          Pack<std::uint8_t> in;
          memcpy(&in, &codes, sizeof in);
          row_out[p] = convert_each<From, To>(in, saturate, scaled, scale);
        }
      } else {
        row_out[p] = convert_each<From, To>(row_in[p], saturate, scaled, scale);
      }
    }
  }
}

unsigned grid_for(std::size_t work, unsigned threads) {
  const std::size_t wanted = (work + threads - 1) / threads;
  return static_cast<unsigned>(wanted < 65535 * 8 ? wanted : 65535 * 8);
}

struct Launch {
  const void* src;
  void* dst;
  std::size_t n;
  bool saturate;
  const float* scales;
  std::size_t cols;
  cudaStream_t stream;
};

template <DType From, DType To>
void launch_pair(const Launch& l) {
  using F = typename Format<From>::Storage;
  using T = typename Format<To>::Storage;
  constexpr unsigned kThreads = 256;
  const auto* src = static_cast<const F*>(l.src);
  auto* dst = static_cast<T*>(l.dst);
  const bool packed = pack_aligned(src, From) && pack_aligned(dst, To) &&
                      (l.scales == nullptr || l.cols % std::size_t{kPack} == 0);
  std::size_t done = 0;
  if (packed && l.n >= std::size_t{kPack}) {
    // With scales, whole rows of cols / kPack packs; without, all the packs as one row.
    const std::size_t rows = l.scales ? l.n / l.cols : 1;
    const std::size_t row_packs = l.scales ? l.cols / std::size_t{kPack} : l.n / std::size_t{kPack};
    // A block of 128 threads: along a row, up to 128 (a multiple of a warp), the rest across rows.
    const unsigned x = row_packs >= 128 ? 128u : static_cast<unsigned>((row_packs + 31) / 32 * 32);
    const dim3 threads(x, 128 / x);
    const dim3 blocks(grid_for(row_packs, threads.x), static_cast<unsigned>(std::min<std::size_t>(
                                                          (rows + threads.y - 1) / threads.y, 65535)));
    convert_pack_kernel<From, To><<<blocks, threads, 0, l.stream>>>(reinterpret_cast<const Pack<F>*>(src),
                                                                    reinterpret_cast<Pack<T>*>(dst), rows,
                                                                    row_packs, l.saturate, l.scales);
    VRAMKIT_CUDA_CHECK(cudaGetLastError());
    done = rows * row_packs * std::size_t{kPack};
  }
  if (done == l.n) return;
  const float* scales = l.scales ? l.scales + done / l.cols : nullptr;
  convert_kernel<From, To><<<grid_for(l.n - done, kThreads), kThreads, 0, l.stream>>>(
      src + done, dst + done, l.n - done, l.saturate, scales, l.cols);
  VRAMKIT_CUDA_CHECK(cudaGetLastError());
}

template <DType From>
void launch_from(DType to, const Launch& l) {
  switch (to) {
    case DType::f32: return launch_pair<From, DType::f32>(l);
    case DType::bf16: return launch_pair<From, DType::bf16>(l);
    case DType::f16: return launch_pair<From, DType::f16>(l);
    case DType::f8_e4m3fn: return launch_pair<From, DType::f8_e4m3fn>(l);
    case DType::f8_e5m2: return launch_pair<From, DType::f8_e5m2>(l);
    default: break;
  }
}

void launch(DType from, DType to, const Launch& l) {
  if (!convert_supported(from) || !convert_supported(to))
    throw DTypeError("cuda convert: unsupported conversion " + std::string(dtype_name(from)) + " -> " +
                     std::string(dtype_name(to)));
  if (l.n == 0) return;
  switch (from) {
    case DType::f32: return launch_from<DType::f32>(to, l);
    case DType::bf16: return launch_from<DType::bf16>(to, l);
    case DType::f16: return launch_from<DType::f16>(to, l);
    case DType::f8_e4m3fn: return launch_from<DType::f8_e4m3fn>(to, l);
    case DType::f8_e5m2: return launch_from<DType::f8_e5m2>(to, l);
    default: break;
  }
}

}  // namespace

void launch_convert(const void* src, DType from, void* dst, DType to, std::size_t n, bool saturate_fp8,
                    cudaStream_t stream) {
  launch(from, to, {src, dst, n, saturate_fp8, nullptr, 1, stream});
}

void launch_dequantize_rows(const void* src, DType from, void* dst, DType to, std::size_t rows, std::size_t cols,
                            const float* scales, cudaStream_t stream) {
  if (cols == 0) return;
  launch(from, to, {src, dst, rows * cols, true, scales, cols, stream});
}

}  // namespace vramkit::cuda
