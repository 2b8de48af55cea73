// CPU 2-D convolution by im2col + sgemm, accumulating into the output (so that the 3-D causal convolution can
// sum its temporal taps and the caller can pre-load the bias).
//
// Algorithm: the output rows are processed in bands sized so that the im2col buffer (Cin·kh·kw rows x band
// pixels) stays near 8 MiB whatever the image size; each band is one sgemm
//   out[:, band] += W [Cout, K] · cols [K, band]   (ldc = out_h·out_w writes the band in place).
// A 1x1, stride-1, unpadded convolution skips im2col (the input already is the [Cin, H·W] matrix).
// Threading: sgemm threads itself (OpenBLAS); im2col runs on the calling thread between the sgemm calls (an
// OpenMP region there would leave two spinning thread pools fighting for the cores, as measured for
// attention). Precision: f32 products and f32 accumulation (OpenBLAS's order).
#include "ops/cpu/conv.h"

#include <cblas.h>

#include <algorithm>

#include "core/tensor.h"

namespace vramkit::ops::cpu {
namespace {

constexpr std::int64_t kColsBudgetFloats = std::int64_t{2} << 20;  // 8 MiB of f32

// cols[(c·kh + u)·kw + v][(i − row0)·out_w + j] = xpad[c, i·sh + u, j·sw + v] for output rows [row0, row0 +
// rows).
void im2col_band(const float* x, const ConvGeometry& g, std::int64_t row0, std::int64_t rows, float* cols) {
  const std::int64_t n = rows * g.out_w;
  for (std::int64_t c = 0; c < g.in_channels; ++c)
    for (std::int64_t u = 0; u < g.k_h; ++u)
      for (std::int64_t v = 0; v < g.k_w; ++v) {
        float* dst = cols + ((c * g.k_h + u) * g.k_w + v) * n;
        for (std::int64_t i = 0; i < rows; ++i) {
          const std::int64_t y = (row0 + i) * g.stride_h + u - g.pad_top;
          float* d = dst + i * g.out_w;
          if (y < 0 || y >= g.in_h) {
            std::fill_n(d, g.out_w, 0.0f);
            continue;
          }
          const float* src = x + (c * g.in_h + y) * g.in_w;
          for (std::int64_t j = 0; j < g.out_w; ++j) {
            const std::int64_t xx = j * g.stride_w + v - g.pad_left;
            d[j] = (xx >= 0 && xx < g.in_w) ? src[xx] : 0.0f;
          }
        }
      }
}

}  // namespace

void conv2d_accumulate_f32(const float* x, const float* weight, float* out, const ConvGeometry& g) {
  const std::int64_t k = g.in_channels * g.k_h * g.k_w;
  const std::int64_t pixels = g.out_h * g.out_w;
  if (pixels == 0 || g.out_channels == 0 || k == 0) return;
  const bool direct = g.k_h == 1 && g.k_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
                      g.pad_left == 0 && g.out_h == g.in_h && g.out_w == g.in_w;
  if (direct) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(g.out_channels),
                static_cast<int>(pixels), static_cast<int>(k), 1.0f, weight, static_cast<int>(k), x,
                static_cast<int>(pixels), 1.0f, out, static_cast<int>(pixels));
    return;
  }
  const std::int64_t band = std::clamp<std::int64_t>(kColsBudgetFloats / (k * g.out_w), 1, g.out_h);
  Tensor scratch = Tensor::empty({k * band * g.out_w}, DType::f32);
  float* cols = scratch.data_as<float>();
  for (std::int64_t row0 = 0; row0 < g.out_h; row0 += band) {
    const std::int64_t rows = std::min(band, g.out_h - row0);
    const std::int64_t n = rows * g.out_w;
    im2col_band(x, g, row0, rows, cols);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(g.out_channels),
                static_cast<int>(n), static_cast<int>(k), 1.0f, weight, static_cast<int>(k), cols,
                static_cast<int>(n), 1.0f, out + row0 * g.out_w, static_cast<int>(pixels));
  }
}

}  // namespace vramkit::ops::cpu
