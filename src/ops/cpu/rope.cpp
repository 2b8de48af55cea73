// CPU RoPE kernels.
//
// rope_f32: one pass over [B, L, H, D]; OpenMP over the B·L token rows, each row rotating its H heads with
// the token's cos/sin row. f32 arithmetic in the order of the reference (products rounded, then the sum), no
// FMA. rope_angles_f32: the table; the angle is rounded to f32 as the reference computes it (f32 product),
// then cos and sin are evaluated in double and rounded once, i.e. correctly rounded f32 values of the f32
// angle.
#include "ops/cpu/rope.h"

#include <cmath>

namespace vramkit::ops::cpu {

void rope_f32(const float* x, float* out, std::int64_t batch, std::int64_t len, std::int64_t heads,
              std::int64_t head_dim, const float* cos, const float* sin, bool table_per_batch,
              bool interleaved) {
  const std::int64_t pairs = head_dim / 2;
  const std::int64_t rows = batch * len;
#pragma omp parallel for schedule(static) if (rows * heads * head_dim >= 65536)
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t table_row = table_per_batch ? row : row % len;
    const float* c = cos + table_row * pairs;
    const float* s = sin + table_row * pairs;
    for (std::int64_t h = 0; h < heads; ++h) {
      const float* xi = x + (row * heads + h) * head_dim;
      float* o = out + (row * heads + h) * head_dim;
      if (interleaved) {
        for (std::int64_t j = 0; j < pairs; ++j) {
          const float re = xi[2 * j], im = xi[2 * j + 1];
          o[2 * j] = re * c[j] - im * s[j];
          o[2 * j + 1] = re * s[j] + im * c[j];
        }
      } else {
        for (std::int64_t j = 0; j < pairs; ++j) {
          const float lo = xi[j], hi = xi[j + pairs];
          o[j] = lo * c[j] - hi * s[j];
          o[j + pairs] = hi * c[j] + lo * s[j];
        }
      }
    }
  }
}

void rope_angles_f32(const std::int64_t* positions, std::int64_t n, int axes, const int* pair_axis,
                     const float* omega, std::int64_t pairs, float* cos, float* sin) {
#pragma omp parallel for schedule(static) if (n * pairs >= 65536)
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < pairs; ++j) {
      const float angle = static_cast<float>(positions[i * axes + pair_axis[j]]) * omega[j];
      cos[i * pairs + j] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sin[i * pairs + j] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
}

}  // namespace vramkit::ops::cpu
