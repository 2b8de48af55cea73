// Raw CPU kernel of fp8_linear (see ops/fp8_linear.h for the op's contract).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "ops/cpu/linear.h"

namespace vramkit::ops::cpu {

// y[r, o] = (s_x[r] · weight_scale[o]) · Σ_i q_x[r, i] · W[o, i] + bias[o], with x [m, w.cols] contiguous of
// x_dtype (any float dtype), quantized per row to w.dtype (f8_e4m3fn or f8_e5m2); y [m, w.rows] contiguous
// f32; weight_scale and bias (length w.rows) may be null. Must not be called inside an OpenMP parallel
// region.
void fp8_linear_f32(const void* x, DType x_dtype, std::int64_t m, const LinearWeight& w,
                    const float* weight_scale, const float* bias, float* y);

}  // namespace vramkit::ops::cpu
