#include "vram/fp8_scaling.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/convert.h"
#include "vramkit/error.h"

namespace vramkit {

void quantize_fp8_rows(const void* src, DType src_dtype, std::size_t rows, std::size_t cols, void* dst,
                       DType fp8_dtype, Fp8Scaling scaling, float* scales) {
  if (fp8_dtype != DType::f8_e4m3fn && fp8_dtype != DType::f8_e5m2)
    throw DTypeError("quantize_fp8_rows: target " + std::string(dtype_name(fp8_dtype)) + " is not an fp8 dtype");
  const float fp8_max = fp8_dtype == DType::f8_e4m3fn ? kF8E4M3FnMax : kF8E5M2Max;
  const std::size_t in_size = dtype_size(src_dtype);
  std::vector<float> row(cols);
#pragma omp parallel for firstprivate(row) schedule(static)
  for (std::size_t r = 0; r < rows; ++r) {
    convert(static_cast<const char*>(src) + r * cols * in_size, src_dtype, row.data(), DType::f32, cols);
    if (scaling == Fp8Scaling::per_channel) {
      float amax = 0;
      for (float v : row)
        if (std::isfinite(v)) amax = std::max(amax, std::fabs(v));
      const float scale = amax > 0 ? amax / fp8_max : 1.0f;
      scales[r] = scale;
      for (float& v : row) v /= scale;
    }
    convert(row.data(), DType::f32, static_cast<char*>(dst) + r * cols, fp8_dtype, cols);
  }
}

void dequantize_rows(const void* src, DType src_dtype, std::size_t rows, std::size_t cols, void* dst,
                     DType dst_dtype, const float* scales) {
  if (!scales) {
    convert(src, src_dtype, dst, dst_dtype, rows * cols);
    return;
  }
  const std::size_t in_size = dtype_size(src_dtype), out_size = dtype_size(dst_dtype);
  std::vector<float> row(cols);
#pragma omp parallel for firstprivate(row) schedule(static)
  for (std::size_t r = 0; r < rows; ++r) {
    convert(static_cast<const char*>(src) + r * cols * in_size, src_dtype, row.data(), DType::f32, cols);
    for (float& v : row) v *= scales[r];
    convert(row.data(), DType::f32, static_cast<char*>(dst) + r * cols * out_size, dst_dtype, cols);
  }
}

}  // namespace vramkit
