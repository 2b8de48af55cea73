// CPU linear: y = x · (scale ⊙ W)ᵀ + bias on OpenBLAS.
//
// Algorithm: f32 weights with unit inner stride go to one sgemm as they are. Narrow weights (bf16, f16, fp8)
// are widened one tile of output channels at a time into a reusable f32 buffer of about kTileBytes (so the
// tile is still in cache when sgemm packs it), then sgemm computes the y columns of that tile. The
// per-channel scale and the bias are applied in an epilogue over the tile's columns: y = acc · scale + bias.
// Threading: sgemm threads itself (OpenBLAS pthreads). Widening and the epilogue run on the calling thread,
// on purpose: with OpenMP loops between the sgemm calls, the idle OpenMP workers (libgomp spins ~300k
// iterations after a region) and the idle OpenBLAS workers (which also spin after a call) fought for the same
// cores, and on a 2-core machine bf16 linear ran at 17% of sgemm; widened serially a tile costs ~1/M (M =
// rows of x) of its sgemm, and bf16 linear runs at ~85% of sgemm (bench/ops/linear_bench.cpp). Precision:
// weights are widened exactly to f32; products accumulate in f32 inside sgemm; scale and bias are applied in
// f32 once per output element.
#include "ops/cpu/linear.h"

#include <algorithm>

#include "core/convert.h"
#include "core/tensor.h"
#include "ops/cpu/matmul.h"

namespace vramkit::ops::cpu {
namespace {

// About 4 MiB of widened weights per tile: large enough that each sgemm call does plenty of work per thread
// start-up, small enough to stay in the last-level cache between conversion and packing.
constexpr std::int64_t kTileBytes = 4 << 20;
constexpr std::int64_t kTileRowMultiple = 64;

void apply_epilogue(float* y, std::int64_t m, std::int64_t ldy, std::int64_t first, std::int64_t count,
                    const float* scale, const float* bias) {
  if (!scale && !bias) return;
  for (std::int64_t r = 0; r < m; ++r) {
    float* row = y + r * ldy + first;
    if (scale && bias) {
      for (std::int64_t j = 0; j < count; ++j) row[j] = row[j] * scale[first + j] + bias[first + j];
    } else if (scale) {
      for (std::int64_t j = 0; j < count; ++j) row[j] *= scale[first + j];
    } else {
      for (std::int64_t j = 0; j < count; ++j) row[j] += bias[first + j];
    }
  }
}

void widen_rows(const LinearWeight& w, std::int64_t first, std::int64_t count, float* dst) {
  const auto* src = static_cast<const char*>(w.data);
  const auto esize = static_cast<std::int64_t>(dtype_size(w.dtype));
  for (std::int64_t r = 0; r < count; ++r)
    convert(src + (first + r) * w.row_stride * esize, w.dtype, dst + r * w.cols, DType::f32,
            static_cast<std::size_t>(w.cols));
}

}  // namespace

std::int64_t linear_tile_rows(std::int64_t cols) {
  const std::int64_t rows = kTileBytes / (std::max<std::int64_t>(cols, 1) * 4);
  return std::max(kTileRowMultiple, rows / kTileRowMultiple * kTileRowMultiple);
}

void linear_f32(const float* x, std::int64_t m, const LinearWeight& w, const float* scale, const float* bias,
                float* y) {
  const std::int64_t n = w.rows, k = w.cols;
  const GemmOperand a{x, std::max<std::int64_t>(k, 1), false};
  if (w.dtype == DType::f32) {
    gemm_f32(m, n, k, 1.0f, a,
             {static_cast<const float*>(w.data), std::max<std::int64_t>(w.row_stride, 1), true}, 0.0f, y, n);
    apply_epilogue(y, m, n, 0, n, scale, bias);
    return;
  }
  const std::int64_t tile = std::min(linear_tile_rows(k), n);
  if (m == 0 || tile == 0) return;
  // Accounted like any host tensor; reused by every tile of this call.
  Tensor buffer = Tensor::empty({tile, k}, DType::f32);
  float* wt = buffer.data_as<float>();
  for (std::int64_t first = 0; first < n; first += tile) {
    const std::int64_t count = std::min(tile, n - first);
    widen_rows(w, first, count, wt);
    gemm_f32(m, count, k, 1.0f, a, {wt, std::max<std::int64_t>(k, 1), true}, 0.0f, y + first, n);
    apply_epilogue(y, m, n, first, count, scale, bias);
  }
}

}  // namespace vramkit::ops::cpu
