// Element-wise row kernels: plain loops over contiguous f32 rows that the compiler vectorizes; the row engine
// (row_map.h) supplies the rows and the OpenMP thread mapping. Precision: one f32 expression per element
// (x · (1 + scale) + shift rounds 1 + scale, the product and the sum in f32, as PyTorch's f32 ops do).
#include "ops/cpu/elementwise.h"

namespace vramkit::ops::cpu {

void add_row(const float* a, const float* b, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void mul_row(const float* a, const float* b, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

void scale_row(const float* x, float s, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] * s;
}

void modulate_row(const float* x, const float* shift, const float* scale, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] * (1.0f + scale[i]) + shift[i];
}

void gated_residual_row(const float* x, const float* gate, const float* y, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] + gate[i] * y[i];
}

void clamp_row(const float* x, float lo, float hi, float* out, std::int64_t n) {
  // Comparisons with NaN are false, so NaN passes through.
  for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
}

}  // namespace vramkit::ops::cpu
