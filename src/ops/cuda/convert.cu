// Elementwise dtype conversion on the GPU.
// Algorithm: one templated kernel per (source, destination) pair; each thread converts elements in a grid-stride
// loop, decoding to f32 and encoding from f32 (every narrow format is a subset of f32, so decoding is exact).
// Precision: f32->bf16 uses the same integer round-to-nearest-even as the CPU (bit-identical, NaN kept quiet with
// its sign); f32->f16 uses the hardware RN conversion; f32->fp8 uses the CUDA fp8 intrinsics with __NV_SATFINITE
// (finite overflow and Inf -> ±max, NaN -> NaN) or __NV_NOSAT (overflow -> NaN for e4m3fn, Inf for e5m2), which
// is the contract of core/convert.h; tests/cuda checks every code against the CPU.
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
// rounded multiply, never contracted, as on the CPU).
template <DType From, DType To>
__global__ void convert_kernel(const typename Format<From>::Storage* __restrict__ src,
                               typename Format<To>::Storage* __restrict__ dst, std::size_t n, bool saturate,
                               const float* __restrict__ scales, std::size_t cols) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    float v = Format<From>::decode(src[i]);
    if (scales) v = __fmul_rn(v, scales[i / cols]);
    dst[i] = Format<To>::encode(v, saturate);
  }
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
  constexpr unsigned kThreads = 256;
  const std::size_t wanted = (l.n + kThreads - 1) / kThreads;
  const unsigned blocks = static_cast<unsigned>(wanted < 65535 * 8 ? wanted : 65535 * 8);
  convert_kernel<From, To><<<blocks, kThreads, 0, l.stream>>>(
      static_cast<const typename Format<From>::Storage*>(l.src), static_cast<typename Format<To>::Storage*>(l.dst),
      l.n, l.saturate, l.scales, l.cols);
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
