// Row kernels of the activations (ops/activation.h) on contiguous f32 rows of n elements; out aliases no
// input.
#pragma once

#include <cstdint>

namespace vramkit::ops::cpu {

void gelu_erf_row(const float* x, float* out, std::int64_t n);
void gelu_tanh_row(const float* x, float* out, std::int64_t n);
void silu_row(const float* x, float* out, std::int64_t n);
void swiglu_row(const float* gate, const float* up, float* out, std::int64_t n);

}  // namespace vramkit::ops::cpu
