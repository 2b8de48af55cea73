// Activation row kernels: one scalar libm call per element in f32 (the row engine, row_map.h, spreads the
// rows over OpenMP threads). Precision: the libm functions' f32 accuracy (about 1 ulp) plus a few f32
// roundings.
#include "ops/cpu/activation.h"

#include <cmath>

namespace vramkit::ops::cpu {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;

// Written as x / (1 + e^-x): for very negative x, e^-x overflows to +inf and the result is -0, not NaN.
inline float silu(float x) {
  return x / (1.0f + std::exp(-x));
}

}  // namespace

void gelu_erf_row(const float* x, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * kInvSqrt2));
}

void gelu_tanh_row(const float* x, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    out[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
  }
}

void silu_row(const float* x, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = silu(x[i]);
}

void swiglu_row(const float* gate, const float* up, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = silu(gate[i]) * up[i];
}

}  // namespace vramkit::ops::cpu
