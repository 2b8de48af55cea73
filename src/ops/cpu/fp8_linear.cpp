// CPU fp8_linear: quantizes x's rows to the weight's fp8 format (vram/fp8_scaling.h's per-row rule), widens
// the codes back to f32 (exactly), and lets the CPU linear kernel compute the f32 product of the two fp8
// operands (each product of two fp8 values is exact in f32, the sums accumulate in f32 inside sgemm); the
// epilogue then applies the row and channel scales and the bias, in f32.
#include "ops/cpu/fp8_linear.h"

#include <vector>

#include "core/convert.h"
#include "core/tensor.h"
#include "vram/fp8_scaling.h"

namespace vramkit::ops::cpu {

void fp8_linear_f32(const void* x, DType x_dtype, std::int64_t m, const LinearWeight& w,
                    const float* weight_scale, const float* bias, float* y) {
  const std::int64_t n = w.rows, k = w.cols;
  const auto rows = static_cast<std::size_t>(m), cols = static_cast<std::size_t>(k);
  std::vector<float> row_scale(rows);
  // Host scratch, accounted like any host tensor: the codes, then their f32 values.
  Tensor codes = Tensor::empty({m, k}, w.dtype);
  quantize_fp8_rows(x, x_dtype, rows, cols, codes.data(), w.dtype, Fp8Scaling::per_channel, row_scale.data());
  Tensor widened = Tensor::empty({m, k}, DType::f32);
  convert(codes.data(), w.dtype, widened.data(), DType::f32, rows * cols);
  codes = Tensor();
  linear_f32(widened.data_as<float>(), m, w, nullptr, nullptr, y);
  for (std::int64_t r = 0; r < m; ++r) {
    float* out = y + r * n;
    const float sx = row_scale[static_cast<std::size_t>(r)];
    for (std::int64_t o = 0; o < n; ++o) {
      const float s = weight_scale ? sx * weight_scale[o] : sx;
      out[o] = s * out[o] + (bias ? bias[o] : 0.0f);
    }
  }
}

}  // namespace vramkit::ops::cpu
