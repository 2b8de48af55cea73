// Raw CPU convolution kernel on contiguous f32 buffers (contract in ops/conv.h).
#pragma once

#include <cstdint>

namespace vramkit::ops::cpu {

struct ConvGeometry {
  std::int64_t in_channels = 0, out_channels = 0;
  std::int64_t in_h = 0, in_w = 0;
  std::int64_t k_h = 0, k_w = 0;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_top = 0, pad_left = 0;  // bottom/right padding only shows through out_h/out_w
  std::int64_t out_h = 0, out_w = 0;
};

// out [Cout, out_h·out_w] += weight [Cout, Cin·k_h·k_w] · im2col(x [Cin, in_h, in_w]), for one image. Calls
// sgemm: not to be called inside an OpenMP parallel region.
void conv2d_accumulate_f32(const float* x, const float* weight, float* out, const ConvGeometry& g);

}  // namespace vramkit::ops::cpu
