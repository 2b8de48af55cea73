// Elementwise dtype conversion on the GPU.
// Algorithm: one templated kernel per (source, destination) pair; each thread converts elements in a
// grid-stride loop, decoding to f32 and encoding from f32 (every narrow format is a subset of f32, so
// decoding is exact). Where both buffers are aligned to a pack of kPack elements (and, with row scales, the
// rows hold whole packs), each thread converts a pack with one wide load and one wide store: the scalar
// kernel's 1- to 4-byte accesses reached 0.28 of the copy rate for the fp8 -> bf16 upcast on an H100. Same
// arithmetic per element, same bits. Precision: f32->bf16 uses the same integer round-to-nearest-even as the
// CPU (bit-identical, NaN kept quiet with its sign); f32->f16 uses the hardware RN conversion; f32->fp8 uses
// the CUDA fp8 intrinsics with __NV_SATFINITE (finite overflow and Inf -> ±max, NaN -> NaN) or __NV_NOSAT
// (overflow -> NaN for e4m3fn, Inf for e5m2), which is the contract of core/convert.h; tests/cuda checks
// every code against the CPU.
#include <cstdint>
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

// The packed twin of convert_kernel over `packs` packs; with `scales`, cols is a multiple of kPack, so the
// elements of a pack share their row.
template <DType From, DType To>
__global__ void convert_pack_kernel(const Pack<typename Format<From>::Storage>* __restrict__ src,
                                    Pack<typename Format<To>::Storage>* __restrict__ dst, std::size_t packs,
                                    bool saturate, const float* __restrict__ scales, std::size_t cols) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t p = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < packs;
       p += stride) {
    const Pack<typename Format<From>::Storage> in = src[p];
    Pack<typename Format<To>::Storage> out;
    const float scale = scales ? scales[p * std::size_t{kPack} / cols] : 1.0f;
#pragma unroll
    for (int j = 0; j < kPack; ++j) {
      float v = Format<From>::decode(in.v[j]);
      if (scales && !is_nan_f32(v)) v = __fmul_rn(v, scale);
      out.v[j] = Format<To>::encode(v, saturate);
    }
    dst[p] = out;
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
  const bool packed = reinterpret_cast<std::uintptr_t>(src) % sizeof(Pack<F>) == 0 &&
                      reinterpret_cast<std::uintptr_t>(dst) % sizeof(Pack<T>) == 0 &&
                      (l.scales == nullptr || l.cols % std::size_t{kPack} == 0);
  std::size_t done = 0;
  if (packed && l.n >= std::size_t{kPack}) {
    const std::size_t packs = l.n / std::size_t{kPack};
    convert_pack_kernel<From, To><<<grid_for(packs, kThreads), kThreads, 0, l.stream>>>(
        reinterpret_cast<const Pack<F>*>(src), reinterpret_cast<Pack<T>*>(dst), packs, l.saturate, l.scales,
        l.cols);
    VRAMKIT_CUDA_CHECK(cudaGetLastError());
    done = packs * std::size_t{kPack};  // with scales, a whole number of rows
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
