// conv2d on the GPU as an implicit GEMM (ops/cuda/conv_cuda.h).
// Algorithm: per batch element, the output pixels are taken in chunks of P (all Ho·Wo when the scratch holds
// the whole unfolded image). im2col writes the chunk's columns cols [K, P], K = Cin·kh·kw in the weight's
// (c, u, v) order, zeros where a tap falls in the padding; then out[:, chunk] = W [Cout, K] · cols, written
// straight into y when the chunk is the whole image, else into scratch and copied into y's [Cout, Ho·Wo]
// rows with one cudaMemcpy2DAsync. A 1x1 kernel of stride 1 without padding skips im2col: x [Cin, H·W] is
// already the unfolded image, and one batched GEMM covers the batch. The bias is pre-loaded into the GEMM's
// output (y, or a chunk's products), which the GEMM adds its sum to (beta = 1), as the CPU pre-loads it.
// Thread mapping (im2col): blockIdx.y walks the K rows (grid-stride), the x dimension the chunk's pixels, so
// consecutive threads write consecutive columns.
// Precision: im2col copies bits; the GEMM accumulates in f32 (full f32 for f32, no TF32) and adds the
// pre-loaded bias. The CPU rounds that sum once; cuBLASLt on sm_90 adds C to the product already rounded to
// bf16 / f16 (gemm.cpp, Precision): up to half a unit of the product's last place more, which shows only
// where the bias cancels most of the product. Reference: ops/cpu/conv.cpp.
#include <algorithm>
#include <string>

#include "backends/cuda/cuda_check.h"
#include "ops/cuda/conv_cuda.h"
#include "ops/cuda/elementwise_cuda.h"
#include "ops/cuda/kernel_util.cuh"

namespace vramkit::cuda {
namespace {

constexpr unsigned kThreads = 256;

bool pointwise(const Conv2dDims& d) {
  return d.kernel_h == 1 && d.kernel_w == 1 && d.stride_h == 1 && d.stride_w == 1 && d.pad_top == 0 &&
         d.pad_bottom == 0 && d.pad_left == 0 && d.pad_right == 0;
}

std::int64_t unfolded_rows(const Conv2dDims& d) {
  return d.in_channels * d.kernel_h * d.kernel_w;
}

// cols[k, p] = xpad[c, i·sh + u, j·sw + v] for k = (c·kh + u)·kw + v and output pixel first_pixel + p = i·Wo
// + j; x is one batch element [Cin, H, W].
template <typename Element>
__global__ void __launch_bounds__(kThreads)
    im2col_kernel(const Element* __restrict__ x, Element* __restrict__ cols, Conv2dDims d, std::int64_t out_w,
                  std::int64_t first_pixel, std::int64_t pixels) {
  const std::int64_t rows = d.in_channels * d.kernel_h * d.kernel_w;
  for (std::int64_t k = blockIdx.y; k < rows; k += gridDim.y) {
    const std::int64_t v = k % d.kernel_w, u = (k / d.kernel_w) % d.kernel_h,
                       c = k / (d.kernel_w * d.kernel_h);
    const Element* plane = x + c * d.height * d.width;
    Element* out = cols + k * pixels;
    for (std::int64_t p = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < pixels;
         p += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
      const std::int64_t pixel = first_pixel + p, i = pixel / out_w, j = pixel % out_w;
      const std::int64_t row = i * d.stride_h + u - d.pad_top, col = j * d.stride_w + v - d.pad_left;
      const bool inside = row >= 0 && row < d.height && col >= 0 && col < d.width;
      out[p] =
          inside ? plane[row * d.width + col] : Element{0};  // all-zero bits are 0.0 in every float dtype
    }
  }
}

void launch_im2col(const void* x, void* cols, std::size_t element_size, const Conv2dDims& d,
                   std::int64_t out_w, std::int64_t first_pixel, std::int64_t pixels, cudaStream_t stream) {
  const std::int64_t rows = unfolded_rows(d);
  const dim3 grid(grid_blocks(pixels, kThreads, 256),
                  static_cast<unsigned>(std::min<std::int64_t>(rows, 65535)));
  if (element_size == 2) {
    im2col_kernel<std::uint16_t><<<grid, kThreads, 0, stream>>>(static_cast<const std::uint16_t*>(x),
                                                                static_cast<std::uint16_t*>(cols), d, out_w,
                                                                first_pixel, pixels);
  } else {
    im2col_kernel<std::uint32_t><<<grid, kThreads, 0, stream>>>(static_cast<const std::uint32_t*>(x),
                                                                static_cast<std::uint32_t*>(cols), d, out_w,
                                                                first_pixel, pixels);
  }
  VRAMKIT_CUDA_CHECK(cudaGetLastError());
}

std::string describe(const Conv2dDims& d) {
  auto s = [](std::int64_t v) { return std::to_string(v); };
  return "x [" + s(d.batch) + ", " + s(d.in_channels) + ", " + s(d.height) + ", " + s(d.width) +
         "], weight [" + s(d.out_channels) + ", " + s(d.in_channels) + ", " + s(d.kernel_h) + ", " +
         s(d.kernel_w) + "], stride (" + s(d.stride_h) + ", " + s(d.stride_w) + "), padding (" +
         s(d.pad_top) + ", " + s(d.pad_bottom) + ", " + s(d.pad_left) + ", " + s(d.pad_right) + ")";
}

void check_dims(const Conv2dDims& d) {
  const bool positive = d.batch > 0 && d.in_channels > 0 && d.height > 0 && d.width > 0 &&
                        d.out_channels > 0 && d.kernel_h > 0 && d.kernel_w > 0 && d.stride_h > 0 &&
                        d.stride_w > 0;
  const bool padding = d.pad_top >= 0 && d.pad_bottom >= 0 && d.pad_left >= 0 && d.pad_right >= 0;
  if (!positive || !padding)
    throw ArgumentError("cuda conv2d: " + describe(d) +
                        ": sizes and strides must be positive and padding non-negative");
  if (d.height + d.pad_top + d.pad_bottom < d.kernel_h || d.width + d.pad_left + d.pad_right < d.kernel_w)
    throw ArgumentError("cuda conv2d: " + describe(d) + ": the kernel is larger than the padded input");
}

}  // namespace

std::size_t conv2d_scratch_bytes(const Conv2dDims& dims, DType dtype, std::size_t max_bytes) {
  if (pointwise(dims)) return 0;
  const auto element = static_cast<std::size_t>(dtype_size(dtype));
  const auto pixels = static_cast<std::size_t>(dims.out_height() * dims.out_width());
  const auto k = static_cast<std::size_t>(unfolded_rows(dims));
  const std::size_t whole = k * pixels * element;
  if (whole <= max_bytes) return whole;
  const std::size_t per_pixel = (k + static_cast<std::size_t>(dims.out_channels)) * element;
  return std::max<std::size_t>(1, max_bytes / per_pixel) * per_pixel;
}

void launch_conv2d(GemmContext& context, const void* x, const void* weight, const void* bias, void* y,
                   DType dtype, const Conv2dDims& dims, void* scratch, std::size_t scratch_bytes,
                   cudaStream_t stream) {
  check_activation_dtype(dtype, "cuda conv2d", "x");
  check_dims(dims);
  const std::int64_t out_h = dims.out_height(), out_w = dims.out_width(), pixels = out_h * out_w;
  const std::int64_t k = unfolded_rows(dims), cout = dims.out_channels;
  const auto element = static_cast<std::int64_t>(dtype_size(dtype));
  const auto* xb = static_cast<const char*>(x);
  auto* yb = static_cast<char*>(y);
  const std::int64_t x_batch_bytes = dims.in_channels * dims.height * dims.width * element;
  const std::int64_t y_batch_bytes = cout * pixels * element;
  // With a bias, each GEMM adds its products to the bias pre-loaded in its output.
  const float beta = bias ? 1.0f : 0.0f;
  auto preload_bias = [&](void* out, std::int64_t batch, std::int64_t columns) {
    launch_copy(StridedInput{bias, dtype, {0, 1, 0}}, out, dtype, {batch, cout, columns}, stream);
  };

  if (pointwise(dims)) {
    // y[b] = W [Cout, Cin] · x[b] [Cin, H·W]: one weight shared (stride 0) by the whole batch.
    if (bias) preload_bias(y, dims.batch, pixels);
    launch_matmul_gemm(context,
                       MatmulGemm{weight, x, y, dtype, dims.batch, cout, pixels, k, false, 0,
                                  dims.in_channels * pixels, 1.0f, beta},
                       stream);
  } else {
    const auto whole_bytes = static_cast<std::size_t>(k * pixels * element);
    const bool whole = scratch_bytes >= whole_bytes;
    std::int64_t chunk =
        whole ? pixels
              : static_cast<std::int64_t>(scratch_bytes / static_cast<std::size_t>((k + cout) * element));
    // A multiple of 8 pixels keeps the products (after k·chunk elements) 16-byte aligned for cuBLASLt.
    if (!whole && chunk > 8) chunk -= chunk % 8;
    if (chunk < 1)
      throw ArgumentError("cuda conv2d: " + describe(dims) + ": " + std::to_string(scratch_bytes) +
                          " bytes of scratch do not hold one output pixel (" +
                          std::to_string((k + cout) * element) + " bytes)");
    void* cols = scratch;
    // In chunked mode the products of a chunk follow its unfolded columns in the scratch.
    char* products = static_cast<char*>(scratch) + k * chunk * element;
    if (whole && bias) preload_bias(y, dims.batch, pixels);
    for (std::int64_t b = 0; b < dims.batch; ++b) {
      for (std::int64_t first = 0; first < pixels; first += chunk) {
        const std::int64_t n = std::min(chunk, pixels - first);
        launch_im2col(xb + b * x_batch_bytes, cols, static_cast<std::size_t>(element), dims, out_w, first, n,
                      stream);
        void* c = whole ? static_cast<void*>(yb + b * y_batch_bytes) : static_cast<void*>(products);
        if (!whole && bias) preload_bias(products, 1, n);
        launch_matmul_gemm(
            context, MatmulGemm{weight, cols, c, dtype, 1, cout, n, k, false, 0, 0, 1.0f, beta}, stream);
        if (!whole) {
          // The chunk's [Cout, n] products into columns [first, first + n) of y[b]'s [Cout, Ho·Wo] rows.
          VRAMKIT_CUDA_CHECK(cudaMemcpy2DAsync(
              yb + b * y_batch_bytes + first * element, static_cast<std::size_t>(pixels * element), products,
              static_cast<std::size_t>(n * element), static_cast<std::size_t>(n * element),
              static_cast<std::size_t>(cout), cudaMemcpyDeviceToDevice, stream));
        }
      }
    }
  }
}

}  // namespace vramkit::cuda
