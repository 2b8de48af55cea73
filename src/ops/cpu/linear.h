// Raw CPU kernel of linear (see ops/linear.h for the op's contract).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace vramkit::ops::cpu {

// The weight as stored: `rows` output channels of `cols` input features, any float dtype, element (o, i) at
// data + (o · row_stride + i) · dtype_size(dtype); row_stride >= cols.
struct LinearWeight {
  const void* data;
  DType dtype;
  std::int64_t rows;
  std::int64_t cols;
  std::int64_t row_stride;
};

// y[m, n] = Σ_i x[m, i] · W[n, i] · scale[n] + bias[n], with x [m, cols] and y [m, rows] contiguous f32;
// scale and bias (length rows) may be null. Must not be called inside an OpenMP parallel region.
void linear_f32(const float* x, std::int64_t m, const LinearWeight& w, const float* scale, const float* bias,
                float* y);

// Output channels converted per tile for a weight of `cols` input features (exposed for the benchmark).
std::int64_t linear_tile_rows(std::int64_t cols);

}  // namespace vramkit::ops::cpu
