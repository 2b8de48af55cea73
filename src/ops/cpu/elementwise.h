// Row kernels of the element-wise ops (ops/elementwise.h) on contiguous f32 rows of n elements; out may alias
// no input.
#pragma once

#include <cstdint>

namespace vramkit::ops::cpu {

void add_row(const float* a, const float* b, float* out, std::int64_t n);
void mul_row(const float* a, const float* b, float* out, std::int64_t n);
void scale_row(const float* x, float s, float* out, std::int64_t n);
void modulate_row(const float* x, const float* shift, const float* scale, float* out, std::int64_t n);
void gated_residual_row(const float* x, const float* gate, const float* y, float* out, std::int64_t n);
void clamp_row(const float* x, float lo, float hi, float* out, std::int64_t n);

}  // namespace vramkit::ops::cpu
