// Convolutions: conv2d and the causal 3-D convolution of the Qwen-Image / Wan VAE. Cross-correlation as in
// PyTorch (no kernel flip), zero padding, groups = 1, dilation = 1.
//
//   conv2d: x [B, Cin, H, W], weight [Cout, Cin, kh, kw], bias [Cout] or undefined
//     out[b, o, i, j] = bias[o] + Σ_{c, u, v} weight[o, c, u, v] · xpad[b, c, i·sh + u, j·sw + v]
//     xpad = x with `padding` zeros (top, bottom, left, right); out [B, Cout, Ho, Wo],
//     Ho = (H + top + bottom − kh) / sh + 1, Wo likewise.
//
//   causal_conv3d (diffusers QwenImageCausalConv3d): x [B, Cin, T, H, W], weight [Cout, Cin, kt, kh, kw],
//     padding (pt, ph, pw) as given to nn.Conv3d. The reference zero-pads H and W symmetrically by ph and pw,
//     and time causally: the optional `cache` [B, Cin, Tc, H, W] (the previous chunk's last frames) is
//     prepended when pt > 0, and the front is then padded with 2·pt − Tc zero frames (cropped when negative),
//     nothing at the back; then a plain 3-D convolution with `stride` (st, sh, sw). Output [B, Cout, To, Ho,
//     Wo] with To = (T + 2·pt − kt) / st + 1. For one frame, no cache and kt = 2·pt + 1 this is exactly
//     conv2d with the last temporal tap weight[:, :, kt−1] (the other taps only see zero frames); this kernel
//     computes every tap that meets a real frame, so the cached (video) case is exact too.
//
// x: f32/bf16/f16, any strides; weight and bias: any float dtype (f32, bf16, f16, fp8), converted to f32 once
// per call. Accumulation in f32 (im2col + sgemm); the result has x's dtype.
#pragma once

#include <array>
#include <cstdint>

#include "core/tensor.h"

namespace vramkit::ops {

struct Conv2dParams {
  std::array<std::int64_t, 2> stride{1, 1};         // (sh, sw)
  std::array<std::int64_t, 4> padding{0, 0, 0, 0};  // zeros at (top, bottom, left, right)
  // nn.Conv2d(stride=s, padding=p): the same padding on every side.
  static Conv2dParams symmetric(std::int64_t stride, std::int64_t pad) {
    return {{stride, stride}, {pad, pad, pad, pad}};
  }
};

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params = {});

struct CausalConv3dParams {
  std::array<std::int64_t, 3> stride{1, 1, 1};   // (st, sh, sw)
  std::array<std::int64_t, 3> padding{0, 0, 0};  // (pt, ph, pw) as given to nn.Conv3d
};

Tensor causal_conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                     const CausalConv3dParams& params = {}, const Tensor& cache = {});

}  // namespace vramkit::ops
