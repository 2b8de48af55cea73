// Launcher of conv2d on the GPU (contract of ops/conv.h: cross-correlation, zero padding (top, bottom, left,
// right), stride, groups = 1, dilation = 1) as an implicit GEMM: an im2col kernel unfolds chunks of output
// pixels into a caller-given scratch buffer and launch_matmul_gemm multiplies the weight by them.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "ops/cuda/gemm_cuda.h"

namespace vramkit::cuda {

struct Conv2dDims {
  std::int64_t batch = 0;
  std::int64_t in_channels = 0;
  std::int64_t height = 0;
  std::int64_t width = 0;
  std::int64_t out_channels = 0;
  std::int64_t kernel_h = 0;
  std::int64_t kernel_w = 0;
  std::int64_t stride_h = 1;
  std::int64_t stride_w = 1;
  std::int64_t pad_top = 0;
  std::int64_t pad_bottom = 0;
  std::int64_t pad_left = 0;
  std::int64_t pad_right = 0;

  std::int64_t out_height() const { return (height + pad_top + pad_bottom - kernel_h) / stride_h + 1; }
  std::int64_t out_width() const { return (width + pad_left + pad_right - kernel_w) / stride_w + 1; }
};

// The scratch launch_conv2d should get, at most `max_bytes` unless one output pixel needs more: 0 for a 1x1
// kernel of stride 1 without padding (the input is its own unfolding); the whole unfolded image of one batch
// element (Cin·kh·kw x Ho·Wo elements) when it fits; else as many output pixels as fit, each needing its
// unfolded column and its Cout products.
std::size_t conv2d_scratch_bytes(const Conv2dDims& dims, DType dtype, std::size_t max_bytes);

// y [B, Cout, Ho, Wo] = conv2d(x [B, Cin, H, W], weight [Cout, Cin, kh, kw]) + bias [Cout] (null: none), all
// contiguous of `dtype` (f32 / bf16 / f16) in device memory; y must not overlap the others. scratch:
// scratch_bytes of device memory (conv2d_scratch_bytes' value, or anything larger than one pixel's need);
// the GEMMs accumulate in f32 and add their sums to the pre-loaded bias (gemm.cpp, Precision). Throws
// ArgumentError for non-positive sizes or strides, negative padding, an empty output or too little scratch,
// DTypeError, CudaError when a launch fails.
void launch_conv2d(GemmContext& context, const void* x, const void* weight, const void* bias, void* y,
                   DType dtype, const Conv2dDims& dims, void* scratch, std::size_t scratch_bytes,
                   cudaStream_t stream);

}  // namespace vramkit::cuda
