// Launchers of the element-wise ops and activations on the GPU (contracts of ops/elementwise.h and
// ops/activation.h): GELU (tanh and erf), SiLU, SwiGLU, add, mul, scale, clamp, the DiT's AdaLN modulate and
// gated residual, and the strided copy (permute / contiguous / cast).
// Inputs are strided views over the output's shape, so numpy broadcasting (stride 0), any strides and the
// fused gate/up projection of SwiGLU (two views into one [rows, 2F] buffer) need no copy. Each element is
// computed in f32 from the exact input values and rounded once to the output dtype, as on the CPU.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace vramkit::cuda {

// Largest rank of an element-wise launch (after size-1 dimensions are dropped and contiguous ones merged).
inline constexpr int kMaxElementwiseRank = 6;

// An input in device memory, f32 / bf16 / f16: the element at output index (i0, ..., i_{r-1}) is
// data[Σ i_d · strides[d]] (strides in elements, one per output dimension; 0 broadcasts that dimension).
struct StridedInput {
  const void* data;
  DType dtype;
  std::vector<std::int64_t> strides;
};

// Strides of a contiguous input of `shape` read over `out_shape` with numpy broadcasting (aligned from the
// right; a missing or size-1 dimension gets stride 0). ShapeError naming both shapes when they do not
// broadcast.
std::vector<std::int64_t> broadcast_strides(const std::vector<std::int64_t>& shape,
                                            const std::vector<std::int64_t>& out_shape);

enum class UnaryOp {
  gelu_tanh,  // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
  gelu_erf,   // 0.5·x·(1 + erf(x / √2))
  silu,       // x / (1 + e^-x)
};
enum class BinaryOp {
  add,     // a + b
  mul,     // a · b
  swiglu,  // silu(a) · b   (a = gate, b = up)
};
enum class TernaryOp {
  modulate,        // a · (1 + c) + b   (a = x, b = shift, c = scale: the argument order of ops::modulate)
  gated_residual,  // a + b · c         (a = x, b = gate, c = y)
};

// out: contiguous `out_shape` of `out_dtype` (f32 / bf16 / f16) in device memory; it may be an input's own
// buffer only when that input is contiguous over out_shape (each element is read before it is written, by the
// same thread). Every input's strides must have out_shape's rank. Throws ShapeError (rank, stride count, rank
// above kMaxElementwiseRank after merging), DTypeError, CudaError when the launch fails.
void launch_unary(UnaryOp op, const StridedInput& x, void* out, DType out_dtype,
                  const std::vector<std::int64_t>& out_shape, cudaStream_t stream);
void launch_binary(BinaryOp op, const StridedInput& a, const StridedInput& b, void* out, DType out_dtype,
                   const std::vector<std::int64_t>& out_shape, cudaStream_t stream);
void launch_ternary(TernaryOp op, const StridedInput& a, const StridedInput& b, const StridedInput& c,
                    void* out, DType out_dtype, const std::vector<std::int64_t>& out_shape,
                    cudaStream_t stream);

// out = x · s (s as the CPU's ops::scale rounds it, to f32): the same rounded product.
void launch_scale(const StridedInput& x, float s, void* out, DType out_dtype,
                  const std::vector<std::int64_t>& out_shape, cudaStream_t stream);

// out = min(max(x, lo), hi), NaN passing through as in torch.clamp. ArgumentError unless lo <= hi.
void launch_clamp(const StridedInput& x, float lo, float hi, void* out, DType out_dtype,
                  const std::vector<std::int64_t>& out_shape, cudaStream_t stream);

// out = x, gathered into the contiguous output: a permuted or otherwise strided view made contiguous, and the
// f32 / bf16 / f16 casts on the way (round to nearest even, as Tensor::to). NaN stays NaN (payload quieted).
void launch_copy(const StridedInput& x, void* out, DType out_dtype,
                 const std::vector<std::int64_t>& out_shape, cudaStream_t stream);

}  // namespace vramkit::cuda
