// Raw CPU kernels of the normalizations (see ops/norm.h); weight, bias and gamma pointers may be null
// (absent).
#pragma once

#include <cstdint>

namespace vramkit::ops::cpu {

// One row of n elements; out may not alias x.
void layer_norm_row(const float* x, const float* weight, const float* bias, float eps, float* out,
                    std::int64_t n);
void rms_norm_row(const float* x, const float* weight, float eps, float* out, std::int64_t n);

// x and y contiguous [batch, channels, spatial].
void channel_rms_norm(const float* x, std::int64_t batch, std::int64_t channels, std::int64_t spatial,
                      const float* gamma, const float* bias, float eps, float* y);

}  // namespace vramkit::ops::cpu
