// Element-wise ops, activations and strided copies on the GPU: one strided engine for 1, 2 and 3 inputs.
// Algorithm: on the host, size-1 dimensions are dropped and adjacent dimensions merged wherever every input
// (and the contiguous output) steps through them as one, so the common cases — contiguous tensors, a [B, 1,
// D] modulation over [B, L, D] — become a few long rows. The last dimension is the column; the others index
// rows.
// Thread mapping: blockIdx.y walks rows (grid-stride), blockIdx.x · blockDim.x + threadIdx.x walks columns
// (grid-stride); each block computes its row's input offsets once (divisions by the row sizes), then threads
// touch consecutive columns, so contiguous inputs are read coalesced. Where every input either runs along the
// columns (column stride 1, rows starting on a pack) or is constant along them (column stride 0), and the
// columns are whole packs, each thread handles a pack of 8 columns with one wide access per operand: the
// one-element-per-thread kernel reached 0.12 (modulate) to 0.5 (norms) of the copy rate on an H100.
// Precision: inputs decoded exactly to f32, then one rounding to the output dtype. add, mul, modulate and
// gated residual use the _rn intrinsics (each product and sum rounded, never contracted to an FMA), the CPU's
// arithmetic, so they match it bit for bit; the activations use the accurate libm functions (tanhf, erff,
// expf: about 1-2 ulp, like the CPU's std:: calls). Reference: ops/cpu/activation.cpp and
// ops/cpu/elementwise.cpp.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

#include "backends/cuda/cuda_check.h"
#include "ops/cuda/elementwise_cuda.h"
#include "ops/cuda/kernel_util.cuh"

namespace vramkit::cuda {
namespace {

constexpr unsigned kThreads = 256;
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;

// The merged iteration space: rows indexed by up to kMaxElementwiseRank - 1 outer dimensions, then columns.
struct Geometry {
  int row_rank;
  std::int64_t row_sizes[kMaxElementwiseRank - 1];  // plain arrays: std::array is host-only in device code
  std::int64_t rows;
  std::int64_t cols;
};

struct Input {
  AnyFloat values;
  std::int64_t row_strides[kMaxElementwiseRank - 1];
  std::int64_t col_stride;
};

template <int N>
struct Inputs {
  Input in[N];
};

__device__ inline float silu(float x) {
  return x / (1.0f + expf(-x));
}

template <UnaryOp Op>
struct Unary {
  __device__ float operator()(const float* v) const {
    const float x = v[0];
    if constexpr (Op == UnaryOp::gelu_tanh)
      return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    if constexpr (Op == UnaryOp::gelu_erf) return 0.5f * x * (1.0f + erff(x * kInvSqrt2));
    if constexpr (Op == UnaryOp::silu) return silu(x);
  }
};

template <BinaryOp Op>
struct Binary {
  __device__ float operator()(const float* v) const {
    if constexpr (Op == BinaryOp::add) return __fadd_rn(v[0], v[1]);
    if constexpr (Op == BinaryOp::mul) return __fmul_rn(v[0], v[1]);
    if constexpr (Op == BinaryOp::swiglu) return silu(v[0]) * v[1];
  }
};

template <TernaryOp Op>
struct Ternary {
  __device__ float operator()(const float* v) const {
    if constexpr (Op == TernaryOp::modulate) return __fadd_rn(__fmul_rn(v[0], __fadd_rn(1.0f, v[2])), v[1]);
    if constexpr (Op == TernaryOp::gated_residual) return __fadd_rn(v[0], __fmul_rn(v[1], v[2]));
  }
};

struct Scale {
  float s;
  __device__ float operator()(const float* v) const { return __fmul_rn(v[0], s); }
};

// Comparisons with NaN are false, so NaN passes through (fminf / fmaxf would drop it).
struct Clamp {
  float lo, hi;
  __device__ float operator()(const float* v) const { return v[0] < lo ? lo : (v[0] > hi ? hi : v[0]); }
};

struct Copy {
  __device__ float operator()(const float* v) const { return v[0]; }
};

// Each input's offset of the first element of `row`. The loops are unrolled over the largest rank so that
// every index into the kernel's parameters is a constant: an index known only at run time made each thread
// copy them to its local memory (a 64- to 192-byte stack frame per thread).
template <int N>
__device__ inline void row_offsets(const Geometry& g, const Inputs<N>& inputs, std::int64_t row,
                                   std::int64_t (&base)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) base[k] = 0;
  std::int64_t rest = row;
#pragma unroll
  for (int d = kMaxElementwiseRank - 2; d >= 0; --d) {
    if (d >= g.row_rank) continue;
    const std::int64_t i = rest % g.row_sizes[d];
    rest /= g.row_sizes[d];
#pragma unroll
    for (int k = 0; k < N; ++k) base[k] += i * inputs.in[k].row_strides[d];
  }
}

template <DType T, int N, typename Op>
__global__ void __launch_bounds__(kThreads)
    elementwise_kernel(Geometry g, Inputs<N> inputs, typename Format<T>::Storage* out, Op op) {
  for (std::int64_t row = blockIdx.y; row < g.rows; row += gridDim.y) {
    std::int64_t base[N];
    row_offsets(g, inputs, row, base);
    auto* out_row = out + row * g.cols;
    for (std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < g.cols;
         c += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
      float v[N];
#pragma unroll
      for (int k = 0; k < N; ++k) v[k] = inputs.in[k].values[base[k] + c * inputs.in[k].col_stride];
      out_row[c] = Format<T>::encode(op(v));
    }
  }
}

// The packed twin of elementwise_kernel: pack p of a row covers columns kPack·p ... kPack·p + kPack - 1; an
// input with column stride 0 is read once per pack.
template <DType T, int N, typename Op>
__global__ void __launch_bounds__(kThreads)
    elementwise_pack_kernel(Geometry g, Inputs<N> inputs, Pack<typename Format<T>::Storage>* out, Op op) {
  const std::int64_t packs = g.cols / kPack;
  for (std::int64_t row = blockIdx.y; row < g.rows; row += gridDim.y) {
    std::int64_t base[N];
    row_offsets(g, inputs, row, base);
    auto* out_row = out + row * packs;
    for (std::int64_t p = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < packs;
         p += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
      float v[N][kPack];  // unrolled loops: constant indices keep it in registers
#pragma unroll
      for (int k = 0; k < N; ++k) {
        const Input& in = inputs.in[k];
        if (in.col_stride == 0) {
          const float x = in.values[base[k]];
#pragma unroll
          for (int j = 0; j < kPack; ++j) v[k][j] = x;
        } else {
          in.values.load_pack(base[k] / kPack + p, v[k]);  // base[k] is a multiple of kPack (pack_friendly)
        }
      }
      Pack<typename Format<T>::Storage> o;
#pragma unroll
      for (int j = 0; j < kPack; ++j) {
        float column[N];
#pragma unroll
        for (int k = 0; k < N; ++k) column[k] = v[k][j];
        o.v[j] = Format<T>::encode(op(column));
      }
      out_row[p] = o;
    }
  }
}

// Whether elementwise_pack_kernel can run `g`: whole packs of columns, the output aligned to a pack, and
// every input constant along the columns or contiguous along them with every row starting on a pack.
template <int N>
bool pack_friendly(const Geometry& g, const Inputs<N>& inputs, const void* out, DType out_dtype) {
  if (g.cols % kPack != 0 || !pack_aligned(out, out_dtype)) return false;
  for (int k = 0; k < N; ++k) {
    const Input& in = inputs.in[k];
    if (in.col_stride == 0) continue;
    if (in.col_stride != 1 || !pack_aligned(in.values.data, in.values.dtype)) return false;
    for (int d = 0; d < g.row_rank; ++d)
      if (in.row_strides[d] % kPack != 0) return false;
  }
  return true;
}

// Drops size-1 dimensions and merges dimension d into d + 1 when every input has stride[d] == stride[d + 1] ·
// size[d + 1] (the output is contiguous, so it always does). Fills the geometry and the inputs' strides.
template <int N>
Geometry collapse(const char* op, const std::vector<std::int64_t>& out_shape,
                  const StridedInput* const (&src)[N], Inputs<N>& inputs) {
  const std::size_t rank = out_shape.size();
  for (int k = 0; k < N; ++k) {
    if (src[k]->strides.size() != rank)
      throw ShapeError(std::string(op) + ": input " + std::to_string(k) + " has " +
                       std::to_string(src[k]->strides.size()) + " strides for an output of rank " +
                       std::to_string(rank));
    check_activation_dtype(src[k]->dtype, op, ("input " + std::to_string(k)).c_str());
  }
  std::vector<std::int64_t> sizes;
  std::vector<std::array<std::int64_t, N>> strides;
  for (std::size_t d = 0; d < rank; ++d) {
    if (out_shape[d] < 0)
      throw ShapeError(std::string(op) + ": negative output dimension " + std::to_string(d));
    if (out_shape[d] == 1) continue;
    std::array<std::int64_t, N> s;
    for (int k = 0; k < N; ++k) s[k] = src[k]->strides[d];
    bool merges = !sizes.empty();
    for (int k = 0; k < N && merges; ++k) merges = strides.back()[k] == s[k] * out_shape[d];
    if (merges) {
      sizes.back() *= out_shape[d];
      strides.back() = s;
    } else {
      sizes.push_back(out_shape[d]);
      strides.push_back(s);
    }
  }
  if (sizes.empty()) {  // a single element (or rank 0)
    sizes.push_back(1);
    strides.push_back({});
  }
  if (sizes.size() > static_cast<std::size_t>(kMaxElementwiseRank))
    throw ShapeError(std::string(op) + ": " + std::to_string(sizes.size()) +
                     " dimensions remain after merging, more than " + std::to_string(kMaxElementwiseRank));
  Geometry g{static_cast<int>(sizes.size()) - 1, {}, 1, sizes.back()};
  for (int d = 0; d < g.row_rank; ++d) {
    g.row_sizes[d] = sizes[d];
    g.rows *= sizes[d];
  }
  for (int k = 0; k < N; ++k) {
    inputs.in[k].values = AnyFloat{src[k]->data, src[k]->dtype};
    for (int d = 0; d < g.row_rank; ++d) inputs.in[k].row_strides[d] = strides[d][k];
    inputs.in[k].col_stride = strides.back()[k];
  }
  return g;
}

template <int N, typename Op>
void launch(const char* op_name, Op op, const StridedInput* const (&src)[N], void* out, DType out_dtype,
            const std::vector<std::int64_t>& out_shape, cudaStream_t stream) {
  Inputs<N> inputs{};
  const Geometry g = collapse<N>(op_name, out_shape, src, inputs);
  dispatch_activation_dtype(out_dtype, op_name, "output", [&](auto t) {
    constexpr DType T = decltype(t)::value;
    if (g.rows == 0 || g.cols == 0) return;
    const bool packed = pack_friendly(g, inputs, out, T);
    const unsigned blocks_x = grid_blocks(packed ? g.cols / kPack : g.cols, kThreads, 1024);
    const auto blocks_y =
        static_cast<unsigned>(std::clamp<std::int64_t>(g.rows, 1, std::max(1u, 65536u / blocks_x)));
    const dim3 grid(blocks_x, std::min(blocks_y, 65535u));
    if (packed) {
      elementwise_pack_kernel<T, N><<<grid, kThreads, 0, stream>>>(
          g, inputs, static_cast<Pack<typename Format<T>::Storage>*>(out), op);
    } else {
      elementwise_kernel<T, N>
          <<<grid, kThreads, 0, stream>>>(g, inputs, static_cast<typename Format<T>::Storage*>(out), op);
    }
    VRAMKIT_CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace

std::vector<std::int64_t> broadcast_strides(const std::vector<std::int64_t>& shape,
                                            const std::vector<std::int64_t>& out_shape) {
  auto str = [](const std::vector<std::int64_t>& s) {
    std::string r = "[";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
  };
  if (shape.size() > out_shape.size())
    throw ShapeError("cuda broadcast: shape " + str(shape) + " has more dimensions than " + str(out_shape));
  std::vector<std::int64_t> strides(out_shape.size(), 0);
  const std::size_t offset = out_shape.size() - shape.size();
  std::int64_t stride = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    if (shape[d] != 1 && shape[d] != out_shape[d + offset])
      throw ShapeError("cuda broadcast: shape " + str(shape) + " does not broadcast to " + str(out_shape));
    strides[d + offset] = shape[d] == 1 ? 0 : stride;
    stride *= shape[d];
  }
  return strides;
}

void launch_unary(UnaryOp op, const StridedInput& x, void* out, DType out_dtype,
                  const std::vector<std::int64_t>& out_shape, cudaStream_t stream) {
  const StridedInput* const src[1] = {&x};
  switch (op) {
    case UnaryOp::gelu_tanh:
      return launch("cuda gelu_tanh", Unary<UnaryOp::gelu_tanh>{}, src, out, out_dtype, out_shape, stream);
    case UnaryOp::gelu_erf:
      return launch("cuda gelu_erf", Unary<UnaryOp::gelu_erf>{}, src, out, out_dtype, out_shape, stream);
    case UnaryOp::silu:
      return launch("cuda silu", Unary<UnaryOp::silu>{}, src, out, out_dtype, out_shape, stream);
  }
}

void launch_binary(BinaryOp op, const StridedInput& a, const StridedInput& b, void* out, DType out_dtype,
                   const std::vector<std::int64_t>& out_shape, cudaStream_t stream) {
  const StridedInput* const src[2] = {&a, &b};
  switch (op) {
    case BinaryOp::add:
      return launch("cuda add", Binary<BinaryOp::add>{}, src, out, out_dtype, out_shape, stream);
    case BinaryOp::mul:
      return launch("cuda mul", Binary<BinaryOp::mul>{}, src, out, out_dtype, out_shape, stream);
    case BinaryOp::swiglu:
      return launch("cuda swiglu", Binary<BinaryOp::swiglu>{}, src, out, out_dtype, out_shape, stream);
  }
}

void launch_ternary(TernaryOp op, const StridedInput& a, const StridedInput& b, const StridedInput& c,
                    void* out, DType out_dtype, const std::vector<std::int64_t>& out_shape,
                    cudaStream_t stream) {
  const StridedInput* const src[3] = {&a, &b, &c};
  switch (op) {
    case TernaryOp::modulate:
      return launch("cuda modulate", Ternary<TernaryOp::modulate>{}, src, out, out_dtype, out_shape, stream);
    case TernaryOp::gated_residual:
      return launch("cuda gated_residual", Ternary<TernaryOp::gated_residual>{}, src, out, out_dtype,
                    out_shape, stream);
  }
}

void launch_scale(const StridedInput& x, float s, void* out, DType out_dtype,
                  const std::vector<std::int64_t>& out_shape, cudaStream_t stream) {
  const StridedInput* const src[1] = {&x};
  launch("cuda scale", Scale{s}, src, out, out_dtype, out_shape, stream);
}

void launch_clamp(const StridedInput& x, float lo, float hi, void* out, DType out_dtype,
                  const std::vector<std::int64_t>& out_shape, cudaStream_t stream) {
  if (!(lo <= hi))
    throw ArgumentError("cuda clamp: lo " + std::to_string(lo) + " is not <= hi " + std::to_string(hi));
  const StridedInput* const src[1] = {&x};
  launch("cuda clamp", Clamp{lo, hi}, src, out, out_dtype, out_shape, stream);
}

void launch_copy(const StridedInput& x, void* out, DType out_dtype,
                 const std::vector<std::int64_t>& out_shape, cudaStream_t stream) {
  const StridedInput* const src[1] = {&x};
  launch("cuda copy", Copy{}, src, out, out_dtype, out_shape, stream);
}

}  // namespace vramkit::cuda
