// The GEMMs on the GPU, through cuBLASLt. linear: y = x·Wᵀ (+ bias), x [rows, in] and W [out, in] row-major
// (nn.Linear's layout, as stored in the checkpoints), y [rows, out] row-major. bf16 x bf16 -> bf16 and f16 x
// f16 -> f16 with f32 accumulation, f32 x f32 -> f32 in full f32 (no TF32). The bias is added in the
// epilogue (or, below 16-byte alignment, pre-loaded into y); for bf16 / f16 cuBLASLt adds it to the product
// already rounded (gemm.cpp, Precision). fp8 weights reach
// linear upcast to the computation dtype (launch_dequantize_rows in convert_cuda.h), or, with the native fp8
// GEMM (ops/fp8_linear.h), multiply as fp8 with activations quantized per row (fp8_quantize_cuda.h):
// Fp8LinearGemm below.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/dtype.h"
#include "ops/device_scratch.h"

namespace vramkit {
class Allocator;
}

namespace vramkit::cuda {

// One linear: device pointers, sizes in elements. x [rows, in], weight [out, in], bias [out] or null, y
// [rows, out], all contiguous of `dtype` (f32, bf16 or f16; the bias too). y must not overlap x or the
// weight.
struct LinearGemm {
  const void* x;
  const void* weight;
  const void* bias;
  void* y;
  DType dtype;
  std::int64_t rows;
  std::int64_t in;
  std::int64_t out;
};

// One native fp8 linear: y[r, o] = x_scales[r] · weight_scales[o] · Σ_i x_codes[r, i] · weight[o, i] +
// bias[o], device pointers, sizes in elements. x_codes [rows, in] and weight [out, in] contiguous of
// fp8_dtype, x_scales [rows] and weight_scales [out] f32 (both required: ones for an unscaled weight), bias
// [out] of out_dtype or null, y [rows, out] contiguous of out_dtype. `accumulator` is f32 scratch for
// accumulator_rows x out sums (>= 1 row): accumulator_rows rows of x at a time, the fp8 GEMM writes the
// unscaled sums there (f32 accumulation, CUBLAS_COMPUTE_32F), and launch_scale_fp8_accumulators
// (fp8_quantize_cuda.h) applies both scales and the bias and rounds y once, as the CPU kernel does.
struct Fp8LinearGemm {
  const void* x_codes;
  const float* x_scales;
  const void* weight;
  const float* weight_scales;
  const void* bias;
  void* y;
  DType fp8_dtype;
  DType out_dtype;
  std::int64_t rows;
  std::int64_t in;
  std::int64_t out;
  float* accumulator;
  std::int64_t accumulator_rows;
};

// One batched matrix product c[i] = alpha · a[i]·b[i] + beta · c[i] for i < batch (ops::matmul with equal
// dtypes, the q·kᵀ / p·v products of an attention done as GEMMs, conv2d onto its pre-loaded bias): row-major,
// all of `dtype` (f32, bf16, f16). a[i] [m, k] at a + i·a_batch_stride; b[i] [k, n] at b + i·b_batch_stride,
// or stored [n, k] when b_transposed (keys for q·kᵀ); strides in elements, 0 shares one matrix across the
// batch; c[i] [m, n] contiguous at c + i·m·n, read only when beta != 0 (for bf16 / f16 added to the product
// rounded to dtype: gemm.cpp, Precision).
struct MatmulGemm {
  const void* a;
  const void* b;
  void* c;
  DType dtype;
  std::int64_t batch;
  std::int64_t m;
  std::int64_t n;
  std::int64_t k;
  bool b_transposed;
  std::int64_t a_batch_stride;
  std::int64_t b_batch_stride;
  float alpha = 1.0f;
  float beta = 0.0f;
};

// Matmul plans a GemmContext keeps (the most recently used): a generation runs a few dozen distinct products
// (the transformer's linears at its token count, the text encoder's, the VAE's convs per tile size); a plan
// is a few host descriptors, so the bound only stops a long-running process that sees many prompt lengths
// from keeping a plan for each.
inline constexpr std::size_t kMaxGemmPlans = 1024;

// One cuBLASLt handle and the cache of matmul plans (descriptors and the heuristic's algorithm per shape,
// dtype, bias presence and pointer alignment): the heuristic runs once per distinct linear, asked for
// algorithms whose workspace fits max_workspace_bytes, and again for a product whose plan was dropped from
// the cache (max_plans, least recently used first). Each launch takes the workspace its algorithm needs
// (often none) from `arena` for its duration (library_workspace.h), so that it counts in the VRAM budget; a
// context made without an arena keeps its own cudaMalloc workspace. Launches through one context must be
// ordered (the arena's reuse rule, and the kept workspace), so there is one context per stream and it is not
// thread-safe: the CUDA accelerator's lives beside its compute stream.
class GemmContext {
 public:
  explicit GemmContext(std::shared_ptr<Allocator> arena = nullptr,
                       std::size_t max_workspace_bytes = ops::kLibraryWorkspaceBytes,
                       std::size_t max_plans = kMaxGemmPlans);
  ~GemmContext();
  GemmContext(const GemmContext&) = delete;
  GemmContext& operator=(const GemmContext&) = delete;

  // Plans kept (one per distinct shape / dtype / bias / alignment; the max_plans most recently used).
  std::size_t cached_plans() const;

  friend void launch_linear_gemm(GemmContext& context, const LinearGemm& gemm, cudaStream_t stream);
  friend void launch_matmul_gemm(GemmContext& context, const MatmulGemm& gemm, cudaStream_t stream);
  friend bool fp8_linear_gemm_supported(GemmContext& context, const Fp8LinearGemm& gemm);
  friend void launch_fp8_linear_gemm(GemmContext& context, const Fp8LinearGemm& gemm, cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Launches y = x·Wᵀ + bias on `stream` with `context`'s handle and workspace. Throws DTypeError for another
// dtype, ArgumentError for non-positive in / out or negative rows, CudaError (with cuBLASLt's status and the
// shape) when no algorithm fits or the call fails.
void launch_linear_gemm(GemmContext& context, const LinearGemm& gemm, cudaStream_t stream);

// Launches the batched product on `stream`. Throws DTypeError, ArgumentError (k <= 0, negative sizes or
// strides), CudaError (with cuBLASLt's status and the shapes) when no algorithm fits or the call fails.
void launch_matmul_gemm(GemmContext& context, const MatmulGemm& gemm, cudaStream_t stream);

// Whether cuBLASLt runs `gemm` natively on the context's device: sm_89 or newer, f8_e4m3fn operands, a bf16
// or f16 output, in and out multiples of 16, 16-byte aligned buffers, and an algorithm from the heuristic
// for the f32 sums of a full and of the last block of rows (asked once per shape; the answer is cached, as is
// the plan). Otherwise the caller falls back (dequantize +
// GEMM).
bool fp8_linear_gemm_supported(GemmContext& context, const Fp8LinearGemm& gemm);

// Launches the native fp8 linear on `stream`. Throws ArgumentError when fp8_linear_gemm_supported is false,
// CudaError when the call fails.
void launch_fp8_linear_gemm(GemmContext& context, const Fp8LinearGemm& gemm, cudaStream_t stream);

}  // namespace vramkit::cuda
