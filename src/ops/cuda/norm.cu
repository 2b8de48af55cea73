// LayerNorm and RMSNorm over the last dimension, and the VAE's channel RMS norm, on the GPU.
// Algorithm: one group of threads per row; the group reads the row once for each statistic (LayerNorm: the
// mean, then the mean of squared deviations — two passes, no cancellation; RMSNorm: the mean of squares) and
// once more to write y = (x - mean) · rstd · w + b. Rows are re-read from L1/L2, not kept in registers, so
// any width works.
// Thread mapping: blocks of 256 threads; rows up to kWarpRowMax columns get one warp each (8 rows per block,
// no shared memory: the per-head q/k norms have 128 columns), wider rows get the whole block; grid-stride
// over rows.
// Rows of whole packs (norm_pack_kernel), the common case: each thread reads its packs of the row once with
// wide loads and keeps them in registers (up to kMaxRowPacks), so the row crosses memory once each way; 16
// threads per row up to 512 columns (a head's 128: one pack per thread), 32 up to 1024, the block up to 8192.
// Precision: statistics accumulated in f32 per thread and reduced as a tree (the CPU reference accumulates in
// f64; relative error ~1e-6 for the widths of Qwen-Image), 1/sqrt in f32 with IEEE sqrt and division, the
// output rounded once to x's dtype. Reference: ops/cpu/norm.cpp (layer_norm_row, rms_norm_row). Channel RMS
// norm ([B, C, S], normalized over C at each position): one thread per (b, s) position walks the channels
// twice (sum of squares, then the write); neighbouring threads hold neighbouring positions, so every step of
// the channel loop reads a contiguous run. Sum of squares in f32 (the CPU: f64). Reference: ops/cpu/norm.cpp
// (channel_rms_norm).
#include <cmath>
#include <cstdint>
#include <string>

#include "backends/cuda/cuda_check.h"
#include "ops/cuda/kernel_util.cuh"
#include "ops/cuda/norm_cuda.h"

namespace vramkit::cuda {
namespace {

constexpr int kBlockThreads = 256;
constexpr std::int64_t kWarpRowMax = 1024;

struct NormArgs {
  const void* x;
  void* y;
  std::int64_t rows;
  std::int64_t cols;
  AnyFloat weight;  // data == nullptr: absent
  AnyFloat bias;
  float eps;
  // launch_layer_norm_modulate's: the row r's vectors at shift / scale + (r / rows_per_batch) · stride.
  AnyFloat shift{}, scale{};
  std::int64_t rows_per_batch = 1, shift_stride = 0, scale_stride = 0;
};

// RowThreads threads per row (32 or kBlockThreads); with kBlockThreads the block is one group and the row
// loop is uniform across the block, so the barriers inside group_reduce are reached by every thread.
template <DType T, int RowThreads, bool Layer>
__global__ void __launch_bounds__(kBlockThreads) norm_kernel(NormArgs a) {
  using F = Format<T>;
  __shared__ float scratch[kBlockThreads / 32];
  constexpr int kRowsPerBlock = kBlockThreads / RowThreads;
  const auto* x = static_cast<const typename F::Storage*>(a.x);
  auto* y = static_cast<typename F::Storage*>(a.y);
  const int lane = threadIdx.x % RowThreads;
  const float inv_cols = 1.0f / static_cast<float>(a.cols);
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / RowThreads;
       row < a.rows; row += static_cast<std::int64_t>(gridDim.x) * kRowsPerBlock) {
    const auto* xr = x + row * a.cols;
    float mean = 0.0f;
    if constexpr (Layer) {
      float sum = 0.0f;
      for (std::int64_t c = lane; c < a.cols; c += RowThreads) sum += F::decode(xr[c]);
      mean = group_reduce<RowThreads, false>(sum, scratch) * inv_cols;
    }
    float sq = 0.0f;
    for (std::int64_t c = lane; c < a.cols; c += RowThreads) {
      const float d = F::decode(xr[c]) - mean;
      sq += d * d;
    }
    const float rstd = 1.0f / sqrtf(group_reduce<RowThreads, false>(sq, scratch) * inv_cols + a.eps);
    auto* yr = y + row * a.cols;
    for (std::int64_t c = lane; c < a.cols; c += RowThreads) {
      float v = (F::decode(xr[c]) - mean) * rstd;
      if (a.weight.data) v *= a.weight[c];
      if (a.bias.data) v += a.bias[c];
      yr[c] = F::encode(v);
    }
  }
}

constexpr int kMaxRowPacks = 4;

// norm_kernel with the row in registers: thread `lane` of its group holds packs lane, lane + RowThreads, ...
// of the row (kMaxRowPacks at most: cols <= RowThreads · kMaxRowPacks · kPack, a multiple of kPack, x and y
// aligned to a pack). The row loop is uniform across the block (a group past the last row only joins the
// reductions), so every lane reaches the shuffles and barriers of group_reduce. Same formulas as norm_kernel;
// the sums add each thread's elements in another order. Modulated: the normalized value is rounded to T and
// modulated with the row's shift and scale as the modulate kernel does (elementwise.cu, Ternary).
template <DType T, int RowThreads, bool Layer, bool Modulated = false>
__global__ void __launch_bounds__(kBlockThreads) norm_pack_kernel(NormArgs a) {
  using F = Format<T>;
  using P = Pack<typename F::Storage>;
  __shared__ float scratch[kBlockThreads / 32];
  constexpr int kRowsPerBlock = kBlockThreads / RowThreads;
  const std::int64_t packs = a.cols / kPack;
  const int lane = threadIdx.x % RowThreads;
  const float inv_cols = 1.0f / static_cast<float>(a.cols);
  for (std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock; first < a.rows;
       first += static_cast<std::int64_t>(gridDim.x) * kRowsPerBlock) {
    const std::int64_t row = first + threadIdx.x / RowThreads;
    const bool active = row < a.rows;
    float v[kMaxRowPacks][kPack];
    bool held[kMaxRowPacks];
#pragma unroll
    for (int i = 0; i < kMaxRowPacks; ++i) {
      const std::int64_t p = lane + i * RowThreads;
      held[i] = active && p < packs;
      if (held[i]) {
        const P in = static_cast<const P*>(a.x)[row * packs + p];
#pragma unroll
        for (int j = 0; j < kPack; ++j) v[i][j] = F::decode(in.v[j]);
      }
    }
    float mean = 0.0f;
    if constexpr (Layer) {
      float sum = 0.0f;
#pragma unroll
      for (int i = 0; i < kMaxRowPacks; ++i)
        if (held[i])
#pragma unroll
          for (int j = 0; j < kPack; ++j) sum += v[i][j];
      mean = group_reduce<RowThreads, false>(sum, scratch) * inv_cols;
    }
    float sq = 0.0f;
#pragma unroll
    for (int i = 0; i < kMaxRowPacks; ++i)
      if (held[i])
#pragma unroll
        for (int j = 0; j < kPack; ++j) {
          const float d = v[i][j] - mean;
          sq += d * d;
        }
    const float rstd = 1.0f / sqrtf(group_reduce<RowThreads, false>(sq, scratch) * inv_cols + a.eps);
    const std::int64_t batch = Modulated && active ? row / a.rows_per_batch : 0;
#pragma unroll
    for (int i = 0; i < kMaxRowPacks; ++i) {
      if (!held[i]) continue;
      const std::int64_t p = lane + i * RowThreads;
      float weight[kPack], bias[kPack], scale[kPack], shift[kPack];
      if (a.weight.data) a.weight.load_run(p * kPack, weight);
      if (a.bias.data) a.bias.load_run(p * kPack, bias);
      if constexpr (Modulated) {
        a.scale.load_run(batch * a.scale_stride + p * kPack, scale);
        a.shift.load_run(batch * a.shift_stride + p * kPack, shift);
      }
      P out;
#pragma unroll
      for (int j = 0; j < kPack; ++j) {
        float r = (v[i][j] - mean) * rstd;
        if (a.weight.data) r *= weight[j];
        if (a.bias.data) r += bias[j];
        if constexpr (Modulated) {
          const float normed = F::decode(F::encode(r));
          r = __fadd_rn(__fmul_rn(normed, __fadd_rn(1.0f, scale[j])), shift[j]);
        }
        out.v[j] = F::encode(r);
      }
      static_cast<P*>(a.y)[row * packs + p] = out;
    }
  }
}

// y[b, c, s] = x[b, c, s] · root_c / max(‖x[b, :, s]‖₂, eps) · gamma[c] + bias[c].
template <DType T>
__global__ void __launch_bounds__(kBlockThreads)
    channel_rms_norm_kernel(const typename Format<T>::Storage* x, typename Format<T>::Storage* y,
                            std::int64_t batch, std::int64_t channels, std::int64_t spatial, AnyFloat gamma,
                            AnyFloat bias, float eps, float root_c) {
  using F = Format<T>;
  for (std::int64_t pos = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       pos < batch * spatial; pos += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t base = (pos / spatial) * channels * spatial + pos % spatial;
    float sq = 0.0f;
    for (std::int64_t c = 0; c < channels; ++c) {
      const float v = F::decode(x[base + c * spatial]);
      sq += v * v;
    }
    const float factor = root_c / fmaxf(sqrtf(sq), eps);
    for (std::int64_t c = 0; c < channels; ++c) {
      const float v = F::decode(x[base + c * spatial]) * factor * gamma[c];
      y[base + c * spatial] = F::encode(bias.data ? v + bias[c] : v);
    }
  }
}

template <DType T, int RowThreads, bool Layer, bool Modulated>
void launch_norm_pack(const NormArgs& a, cudaStream_t stream) {
  constexpr int kRowsPerBlock = kBlockThreads / RowThreads;
  norm_pack_kernel<T, RowThreads, Layer, Modulated>
      <<<grid_blocks(a.rows, kRowsPerBlock), kBlockThreads, 0, stream>>>(a);
}

// Whether norm_pack_kernel takes rows of `cols` elements of `dtype` at x and y.
bool packed_rows(const void* x, const void* y, DType dtype, std::int64_t cols) {
  return cols % kPack == 0 && cols / kPack <= kBlockThreads * kMaxRowPacks && pack_aligned(x, dtype) &&
         pack_aligned(y, dtype);
}

// norm_pack_kernel with the fewest threads a row whose registers hold it.
template <DType T, bool Layer, bool Modulated>
void launch_packed_rows(const NormArgs& a, cudaStream_t stream) {
  const std::int64_t row_packs = a.cols / kPack;
  if (row_packs <= 16 * kMaxRowPacks) {
    launch_norm_pack<T, 16, Layer, Modulated>(a, stream);
  } else if (row_packs <= 32 * kMaxRowPacks) {
    launch_norm_pack<T, 32, Layer, Modulated>(a, stream);
  } else {
    launch_norm_pack<T, kBlockThreads, Layer, Modulated>(a, stream);
  }
}

template <DType T, bool Layer>
void launch_norm(const NormArgs& a, cudaStream_t stream) {
  if (packed_rows(a.x, a.y, T, a.cols)) {
    launch_packed_rows<T, Layer, false>(a, stream);
  } else if (a.cols <= kWarpRowMax) {
    constexpr int kRowsPerBlock = kBlockThreads / 32;
    norm_kernel<T, 32, Layer><<<grid_blocks(a.rows, kRowsPerBlock), kBlockThreads, 0, stream>>>(a);
  } else {
    norm_kernel<T, kBlockThreads, Layer><<<grid_blocks(a.rows, 1), kBlockThreads, 0, stream>>>(a);
  }
  VRAMKIT_CUDA_CHECK(cudaGetLastError());
}

template <bool Layer>
void dispatch(const char* op, const void* x, void* y, DType dtype, std::int64_t rows, std::int64_t cols,
              NormParam weight, NormParam bias, float eps, cudaStream_t stream) {
  if (rows < 0 || cols < 0)
    throw ArgumentError(std::string(op) + ": negative size (rows " + std::to_string(rows) + ", cols " +
                        std::to_string(cols) + ")");
  if (weight.data) check_activation_dtype(weight.dtype, op, "weight");
  if (bias.data) check_activation_dtype(bias.dtype, op, "bias");
  const NormArgs args{x, y, rows, cols, {weight.data, weight.dtype}, {bias.data, bias.dtype}, eps};
  dispatch_activation_dtype(dtype, op, "x", [&](auto t) {
    if (rows == 0 || cols == 0) return;
    launch_norm<decltype(t)::value, Layer>(args, stream);
  });
}

}  // namespace

void launch_channel_rms_norm(const void* x, void* y, DType dtype, std::int64_t batch, std::int64_t channels,
                             std::int64_t spatial, NormParam gamma, NormParam bias, float eps,
                             cudaStream_t stream) {
  constexpr const char* kOp = "cuda channel_rms_norm";
  if (batch < 0 || channels < 0 || spatial < 0)
    throw ArgumentError(std::string(kOp) + ": negative size (batch " + std::to_string(batch) + ", channels " +
                        std::to_string(channels) + ", spatial " + std::to_string(spatial) + ")");
  if (!gamma.data) throw ArgumentError(std::string(kOp) + ": gamma is missing");
  check_activation_dtype(gamma.dtype, kOp, "gamma");
  if (bias.data) check_activation_dtype(bias.dtype, kOp, "bias");
  dispatch_activation_dtype(dtype, kOp, "x", [&](auto t) {
    constexpr DType T = decltype(t)::value;
    if (batch == 0 || channels == 0 || spatial == 0) return;
    channel_rms_norm_kernel<T><<<grid_blocks(batch * spatial, kBlockThreads), kBlockThreads, 0, stream>>>(
        static_cast<const typename Format<T>::Storage*>(x), static_cast<typename Format<T>::Storage*>(y),
        batch, channels, spatial, AnyFloat{gamma.data, gamma.dtype}, AnyFloat{bias.data, bias.dtype}, eps,
        static_cast<float>(std::sqrt(static_cast<double>(channels))));
    VRAMKIT_CUDA_CHECK(cudaGetLastError());
  });
}

bool layer_norm_modulate_supported(const void* x, const void* y, DType dtype, std::int64_t cols) {
  return activation_dtype(dtype) && cols > 0 && packed_rows(x, y, dtype, cols);
}

void launch_layer_norm_modulate(const void* x, void* y, DType dtype, std::int64_t rows, std::int64_t cols,
                                std::int64_t rows_per_batch, ModulationParam shift, ModulationParam scale,
                                float eps, cudaStream_t stream) {
  constexpr const char* kOp = "cuda layer_norm_modulate";
  if (rows < 0 || rows_per_batch <= 0 || shift.batch_stride < 0 || scale.batch_stride < 0)
    throw ArgumentError(std::string(kOp) + ": bad sizes (rows " + std::to_string(rows) + ", rows per batch " +
                        std::to_string(rows_per_batch) + ", strides " + std::to_string(shift.batch_stride) +
                        " / " + std::to_string(scale.batch_stride) + ")");
  if (!shift.data || !scale.data) throw ArgumentError(std::string(kOp) + ": shift and scale are required");
  check_activation_dtype(shift.dtype, kOp, "shift");
  check_activation_dtype(scale.dtype, kOp, "scale");
  dispatch_activation_dtype(dtype, kOp, "x", [&](auto t) {
    constexpr DType T = decltype(t)::value;
    if (!layer_norm_modulate_supported(x, y, T, cols))
      throw ArgumentError(std::string(kOp) + ": " + std::to_string(cols) +
                          " columns or the buffers' alignment do not fit the kernel (check "
                          "layer_norm_modulate_supported first)");
    if (rows == 0) return;
    NormArgs a{x, y, rows, cols, {}, {}, eps};
    a.shift = {shift.data, shift.dtype};
    a.scale = {scale.data, scale.dtype};
    a.rows_per_batch = rows_per_batch;
    a.shift_stride = shift.batch_stride;
    a.scale_stride = scale.batch_stride;
    launch_packed_rows<T, true, true>(a, stream);
    VRAMKIT_CUDA_CHECK(cudaGetLastError());
  });
}

void launch_layer_norm(const void* x, void* y, DType dtype, std::int64_t rows, std::int64_t cols,
                       NormParam weight, NormParam bias, float eps, cudaStream_t stream) {
  dispatch<true>("cuda layer_norm", x, y, dtype, rows, cols, weight, bias, eps, stream);
}

void launch_rms_norm(const void* x, void* y, DType dtype, std::int64_t rows, std::int64_t cols,
                     NormParam weight, float eps, cudaStream_t stream) {
  dispatch<false>("cuda rms_norm", x, y, dtype, rows, cols, weight, NormParam{}, eps, stream);
}

}  // namespace vramkit::cuda
