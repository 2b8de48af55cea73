// CudaDeviceOps (ops/cuda/cuda_device_ops.h): each op brought to the launchers' contracts (contiguous,
// aligned, one dtype where they need it) with device-side copies, then launched on the compute stream.
#include "ops/cuda/cuda_device_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "ops/broadcast.h"
#include "ops/cuda/attention_cuda.h"
#include "ops/cuda/attention_mask_cuda.h"
#include "ops/cuda/conv_cuda.h"
#include "ops/cuda/convert_cuda.h"
#include "ops/cuda/elementwise_cuda.h"
#include "ops/cuda/embedding_cuda.h"
#include "ops/cuda/fp8_quantize_cuda.h"
#include "ops/cuda/norm_cuda.h"
#include "ops/cuda/raw_copy_cuda.h"
#include "ops/cuda/rope_cuda.h"
#include "ops/cuda/softmax_cuda.h"
#include "ops/op_util.h"
#include "vramkit/error.h"
#include "vramkit/log.h"

namespace vramkit::cuda {
namespace {

bool activation(DType dt) {
  return dt == DType::f32 || dt == DType::bf16 || dt == DType::f16;
}

// cuBLASLt picks its fastest algorithms (and the vectorized kernels their loads) for 16-byte aligned buffers.
bool aligned(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

std::vector<std::int64_t> dims_of(const Shape& shape) {
  return {shape.dims().begin(), shape.dims().end()};
}

// Element strides of t read over `shape`, which t broadcasts to (aligned from the right): t's own strides,
// 0 for its size-1 and missing dimensions.
std::vector<std::int64_t> view_strides(const Tensor& t, const Shape& shape) {
  std::vector<std::int64_t> strides(static_cast<std::size_t>(shape.rank()), 0);
  const int offset = shape.rank() - t.rank();
  for (int d = 0; d < t.rank(); ++d)
    if (t.size(d) != 1) strides[static_cast<std::size_t>(d + offset)] = t.stride(d);
  return strides;
}

StridedInput strided(const Tensor& t, const Shape& shape) {
  return {t.data(), t.dtype(), view_strides(t, shape)};
}

// Product of all dimensions but the last `trailing`.
std::int64_t leading_numel(const Tensor& t, int trailing) {
  std::int64_t n = 1;
  for (int d = 0; d + trailing < t.rank(); ++d) n *= t.size(d);
  return n;
}

NormParam norm_param(const Tensor& t) {
  return t.defined() ? NormParam{t.data(), t.dtype()} : NormParam{};
}

}  // namespace

CudaDeviceOps::CudaDeviceOps(int device_index, cudaStream_t stream, std::shared_ptr<Allocator> allocator,
                             std::size_t max_scratch_bytes)
    : device_index_(device_index),
      stream_(stream),
      allocator_(std::move(allocator)),
      max_scratch_bytes_(max_scratch_bytes) {
  const DeviceGuard guard(device_index_);
  gemm_ = std::make_unique<GemmContext>(allocator_);
}

CudaDeviceOps::~CudaDeviceOps() = default;

Tensor CudaDeviceOps::empty(const Shape& shape, DType dtype) const {
  return Tensor::empty(shape, dtype, allocator_);
}

std::size_t CudaDeviceOps::scratch_budget() const {
  return max_scratch_bytes_;
}

Tensor CudaDeviceOps::dense(const Tensor& t) {
  return dense(t, t.dtype());
}

Tensor CudaDeviceOps::dense(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype && t.is_contiguous() && aligned(t.data())) return t;
  Tensor out = empty(t.shape(), dtype);
  copy(out, t);
  return out;
}

Tensor CudaDeviceOps::materialize(const Tensor& t, const Shape& shape, DType dtype) {
  Tensor out = empty(shape, dtype);
  if (out.numel() > 0) launch_copy(strided(t, shape), out.data(), dtype, dims_of(shape), stream_);
  return out;
}

void CudaDeviceOps::copy(const Tensor& dst, const Tensor& src) {
  const DeviceGuard guard(device_index_);
  if (dst.numel() == 0) return;
  const std::vector<std::int64_t> shape = dims_of(dst.shape());
  if (activation(src.dtype()) && activation(dst.dtype())) {
    launch_copy(strided(src, dst.shape()), dst.data(), dst.dtype(), shape, stream_);
  } else if (src.dtype() == dst.dtype()) {
    launch_raw_copy(src.data(), src.element_size(), view_strides(src, dst.shape()), dst.data(), shape,
                    stream_);
  } else if (convert_supported(src.dtype()) && convert_supported(dst.dtype())) {
    // To or from fp8 (beyond DeviceOps' contract, for the weights' decoding and ops::cast): the contiguous
    // converter, saturating as Tensor::to does.
    const Tensor contiguous_src = dense(src);
    launch_convert(contiguous_src.data(), src.dtype(), dst.data(), dst.dtype(),
                   static_cast<std::size_t>(dst.numel()), true, stream_);
  } else {
    throw DTypeError("copy: " + ops::describe({{"dst", &dst}, {"src", &src}}) +
                     ": CUDA converts only between f32, bf16, f16, f8_e4m3fn and f8_e5m2");
  }
}

Tensor CudaDeviceOps::concat(std::span<const Tensor> tensors, int dim) {
  const DeviceGuard guard(device_index_);
  Shape shape = tensors.front().shape();
  shape[dim] = 0;
  for (const Tensor& t : tensors) shape[dim] += t.size(dim);
  Tensor out = empty(shape, tensors.front().dtype());
  if (out.numel() == 0) return out;
  // Each piece is `outer` rows of size(dim)·inner contiguous elements, landing at its offset along dim in the
  // output's rows of shape[dim]·inner elements.
  std::int64_t outer = 1, inner = 1;
  for (int d = 0; d < dim; ++d) outer *= shape[d];
  for (int d = dim + 1; d < shape.rank(); ++d) inner *= shape[d];
  const auto element = static_cast<std::int64_t>(out.element_size());
  const auto out_pitch = static_cast<std::size_t>(shape[dim] * inner * element);
  std::int64_t offset = 0;
  for (const Tensor& t : tensors) {
    if (t.size(dim) == 0) continue;
    const Tensor piece = t.is_contiguous() ? t : dense(t);
    const auto width = static_cast<std::size_t>(t.size(dim) * inner * element);
    VRAMKIT_CUDA_CHECK(cudaMemcpy2DAsync(static_cast<char*>(out.data()) + offset * inner * element, out_pitch,
                                         piece.data(), width, width, static_cast<std::size_t>(outer),
                                         cudaMemcpyDeviceToDevice, stream_));
    offset += t.size(dim);
  }
  return out;
}

Tensor CudaDeviceOps::linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& scale) {
  const DeviceGuard guard(device_index_);
  const DType dtype = x.dtype();
  const std::int64_t in = x.size(-1), out = weight.size(0), rows = leading_numel(x, 1);
  Shape out_shape = x.shape();
  out_shape[x.rank() - 1] = out;
  Tensor y = empty(out_shape, dtype);
  if (y.numel() == 0) return y;
  // cuBLASLt's bias has the output's dtype.
  const Tensor b = bias.defined() ? dense(bias, dtype) : Tensor();
  if (in == 0) {  // an empty sum: the bias, or zeros
    if (b.defined()) {
      launch_copy(StridedInput{b.data(), dtype, {0, 1}}, y.data(), dtype, {rows, out}, stream_);
    } else {
      VRAMKIT_CUDA_CHECK(cudaMemsetAsync(y.data(), 0, y.nbytes(), stream_));
    }
    return y;
  }
  const Tensor x2 = dense(x);
  Tensor w;
  if (scale.defined()) {  // W_real = scale[o] · W[o, :], decoded into x's dtype
    const Tensor stored = dense(weight), s = dense(scale);
    w = empty(weight.shape(), dtype);
    launch_dequantize_rows(stored.data(), stored.dtype(), w.data(), dtype, static_cast<std::size_t>(out),
                           static_cast<std::size_t>(in), s.data_as<float>(), stream_);
  } else {
    w = dense(weight, dtype);
  }
  launch_linear_gemm(
      *gemm_,
      LinearGemm{x2.data(), w.data(), b.defined() ? b.data() : nullptr, y.data(), dtype, rows, in, out},
      stream_);
  return y;
}

// Native: x's rows quantized into arena scratch (codes and scales), then per block of rows one cuBLASLt fp8
// GEMM into f32 scratch (ops::fp8_accumulator_rows) and the kernel that applies both scales and the bias.
// Where cuBLASLt cannot (fp8_linear_gemm_supported: below sm_89, e5m2, f32 activations, a dimension not a
// multiple of 16, unaligned buffers, no algorithm), the fallback is linear's dequantize + GEMM in x's dtype,
// warned about once per shape: x is not quantized there, so its result is closer to the unquantized product
// than the native one (and than the CPU kernel's).
Tensor CudaDeviceOps::fp8_linear(const Tensor& x, const Tensor& weight, const Tensor& weight_scale,
                                 const Tensor& bias) {
  const DeviceGuard guard(device_index_);
  const DType dtype = x.dtype(), fp8 = weight.dtype();
  const std::int64_t in = x.size(-1), out = weight.size(0), rows = leading_numel(x, 1);
  Shape out_shape = x.shape();
  out_shape[x.rank() - 1] = out;
  Tensor y = empty(out_shape, dtype);
  if (y.numel() == 0) return y;
  const Tensor x2 = dense(x), w = dense(weight);
  const Tensor b = bias.defined() ? dense(bias, dtype) : Tensor();
  Tensor codes = empty({rows, in}, fp8), x_scales = empty({rows}, DType::f32);
  Tensor w_scales = weight_scale.defined() ? dense(weight_scale) : empty({out}, DType::f32);
  const std::int64_t block_rows = ops::fp8_accumulator_rows(rows, out, max_scratch_bytes_);
  Tensor sums = empty({block_rows, out}, DType::f32);
  const Fp8LinearGemm gemm{codes.data(),
                           x_scales.data_as<float>(),
                           w.data(),
                           w_scales.data_as<float>(),
                           b.defined() ? b.data() : nullptr,
                           y.data(),
                           fp8,
                           dtype,
                           rows,
                           in,
                           out,
                           sums.data_as<float>(),
                           block_rows};
  if (!fp8_linear_gemm_supported(*gemm_, gemm)) {
    sums = Tensor();  // the fallback's scratch is the dequantized weight
    const std::string shape = x.str() + " x " + weight.str();
    if (fp8_fallbacks_.insert(shape).second)
      log_warn("fp8_linear: cuBLASLt has no native fp8 GEMM here for " + shape +
               "; dequantizing the weight and multiplying in " + std::string(dtype_name(dtype)) + " instead");
    return linear(x, weight, bias, weight_scale);
  }
  if (!weight_scale.defined()) launch_fill_ones(w_scales.data_as<float>(), out, stream_);
  launch_quantize_fp8_rows(x2.data(), dtype, rows, in, codes.data(), fp8, x_scales.data_as<float>(), stream_);
  launch_fp8_linear_gemm(*gemm_, gemm, stream_);
  return y;
}

Tensor CudaDeviceOps::matmul(const Tensor& a, const Tensor& b) {
  const DeviceGuard guard(device_index_);
  const DType dtype = a.dtype();
  const std::int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  // The broadcast batch shape, as ops/matmul.h defines it.
  const int batch_rank = std::max(a.rank(), b.rank()) - 2;
  Shape batch;
  for (int d = 0; d < batch_rank; ++d) {
    const int da = d - (batch_rank - (a.rank() - 2)), db = d - (batch_rank - (b.rank() - 2));
    const std::int64_t sa = da >= 0 ? a.size(da) : 1, sb = db >= 0 ? b.size(db) : 1;
    batch.push_back(sa == 1 ? sb : sa);
  }
  const std::int64_t batch_count = batch.numel();
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor c = empty(out_shape, dtype);
  if (c.numel() == 0) return c;
  if (k == 0) {  // empty sums
    VRAMKIT_CUDA_CHECK(cudaMemsetAsync(c.data(), 0, c.nbytes(), stream_));
    return c;
  }
  auto with_batch = [&](std::int64_t rows, std::int64_t cols) {
    Shape s = batch;
    s.push_back(rows);
    s.push_back(cols);
    return s;
  };
  // An operand whose batch has as many entries as the result's is laid out like it once contiguous; one with
  // fewer is broadcast into a full copy.
  const Tensor a2 =
      leading_numel(a, 2) == batch_count ? dense(a, dtype) : materialize(a, with_batch(m, k), dtype);
  if (leading_numel(b, 2) == 1) {
    // One b for every batch entry: the batch folds into the rows of a single GEMM.
    const Tensor b2 = dense(b, dtype);
    launch_matmul_gemm(
        *gemm_, MatmulGemm{a2.data(), b2.data(), c.data(), dtype, 1, batch_count * m, n, k, false, 0, 0},
        stream_);
  } else {
    const Tensor b2 =
        leading_numel(b, 2) == batch_count ? dense(b, dtype) : materialize(b, with_batch(k, n), dtype);
    launch_matmul_gemm(
        *gemm_, MatmulGemm{a2.data(), b2.data(), c.data(), dtype, batch_count, m, n, k, false, m * k, k * n},
        stream_);
  }
  return c;
}

Tensor CudaDeviceOps::gelu(const Tensor& x, ops::GeluApproximation approximation) {
  const DeviceGuard guard(device_index_);
  Tensor y = empty(x.shape(), x.dtype());
  const UnaryOp op = approximation == ops::GeluApproximation::tanh ? UnaryOp::gelu_tanh : UnaryOp::gelu_erf;
  launch_unary(op, strided(x, x.shape()), y.data(), x.dtype(), dims_of(x.shape()), stream_);
  return y;
}

// The element-wise engine reads each element (or pack) before it writes the same place: out may be x, when
// both are laid out alike (a strided x written back densely would overwrite elements other threads still read).
void CudaDeviceOps::gelu_in_place(const Tensor& x, ops::GeluApproximation approximation) {
  if (!x.is_contiguous()) throw ArgumentError("cuda gelu_in_place: x must be contiguous");
  const DeviceGuard guard(device_index_);
  const UnaryOp op = approximation == ops::GeluApproximation::tanh ? UnaryOp::gelu_tanh : UnaryOp::gelu_erf;
  launch_unary(op, strided(x, x.shape()), x.data(), x.dtype(), dims_of(x.shape()), stream_);
}

Tensor CudaDeviceOps::silu(const Tensor& x) {
  const DeviceGuard guard(device_index_);
  Tensor y = empty(x.shape(), x.dtype());
  launch_unary(UnaryOp::silu, strided(x, x.shape()), y.data(), x.dtype(), dims_of(x.shape()), stream_);
  return y;
}

Tensor CudaDeviceOps::binary(ops::BinaryKind kind, const Tensor& a, const Tensor& b) {
  const DeviceGuard guard(device_index_);
  const Shape shape = ops::broadcast_shape("binary", {{"a", &a}, {"b", &b}});
  Tensor y = empty(shape, a.dtype());
  const BinaryOp op = kind == ops::BinaryKind::add   ? BinaryOp::add
                      : kind == ops::BinaryKind::mul ? BinaryOp::mul
                                                     : BinaryOp::swiglu;
  launch_binary(op, strided(a, shape), strided(b, shape), y.data(), a.dtype(), dims_of(shape), stream_);
  return y;
}

Tensor CudaDeviceOps::ternary(ops::TernaryKind kind, const Tensor& x, const Tensor& b, const Tensor& c) {
  const DeviceGuard guard(device_index_);
  const Shape shape = ops::broadcast_shape("ternary", {{"x", &x}, {"b", &b}, {"c", &c}});
  Tensor y = empty(shape, x.dtype());
  const TernaryOp op = kind == ops::TernaryKind::modulate ? TernaryOp::modulate : TernaryOp::gated_residual;
  launch_ternary(op, strided(x, shape), strided(b, shape), strided(c, shape), y.data(), x.dtype(),
                 dims_of(shape), stream_);
  return y;
}

Tensor CudaDeviceOps::scale(const Tensor& x, float s) {
  const DeviceGuard guard(device_index_);
  Tensor y = empty(x.shape(), x.dtype());
  launch_scale(strided(x, x.shape()), s, y.data(), x.dtype(), dims_of(x.shape()), stream_);
  return y;
}

Tensor CudaDeviceOps::clamp(const Tensor& x, float lo, float hi) {
  const DeviceGuard guard(device_index_);
  Tensor y = empty(x.shape(), x.dtype());
  launch_clamp(strided(x, x.shape()), lo, hi, y.data(), x.dtype(), dims_of(x.shape()), stream_);
  return y;
}

Tensor CudaDeviceOps::layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  const DeviceGuard guard(device_index_);
  Tensor y = empty(x.shape(), x.dtype());
  if (y.numel() == 0) return y;
  const Tensor xc = dense(x);
  const Tensor w = weight.defined() ? dense(weight) : Tensor(), b = bias.defined() ? dense(bias) : Tensor();
  launch_layer_norm(xc.data(), y.data(), x.dtype(), leading_numel(x, 1), x.size(-1), norm_param(w),
                    norm_param(b), eps, stream_);
  return y;
}

// Fused where x is contiguous (rank >= 2, rows of whole packs: layer_norm_modulate_supported) and shift and
// scale hold one [D] vector per batch element or one for all, D contiguous: shape [B or 1, 1, ..., 1, D] in
// x's rank, as the DiT's [B, 1, D] modulation rows (views into its [B, 6·D] table). Else undefined.
Tensor CudaDeviceOps::layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale,
                                          float eps) {
  const DeviceGuard guard(device_index_);
  if (x.rank() < 2 || !x.is_contiguous() || !activation(x.dtype())) return Tensor();
  const std::int64_t batch = x.size(0), cols = x.size(-1), rows = leading_numel(x, 1);
  const auto vectors = [&](const Tensor& m, ModulationParam& param) {
    if (m.rank() != x.rank() || !activation(m.dtype()) || m.size(-1) != cols || m.stride(-1) != 1)
      return false;
    if (m.size(0) != batch && m.size(0) != 1) return false;
    for (int d = 1; d + 1 < m.rank(); ++d)
      if (m.size(d) != 1) return false;
    param = {m.data(), m.dtype(), m.size(0) == 1 ? 0 : m.stride(0)};
    return true;
  };
  ModulationParam shift_param, scale_param;
  if (rows == 0 || cols == 0 || !vectors(shift, shift_param) || !vectors(scale, scale_param)) return Tensor();
  Tensor y = empty(x.shape(), x.dtype());
  if (!layer_norm_modulate_supported(x.data(), y.data(), x.dtype(), cols)) return Tensor();
  launch_layer_norm_modulate(x.data(), y.data(), x.dtype(), rows, cols, rows / batch, shift_param,
                             scale_param, eps, stream_);
  return y;
}

Tensor CudaDeviceOps::rms_norm(const Tensor& x, const Tensor& weight, float eps) {
  const DeviceGuard guard(device_index_);
  Tensor y = empty(x.shape(), x.dtype());
  if (y.numel() == 0) return y;
  const Tensor xc = dense(x);
  const Tensor w = weight.defined() ? dense(weight) : Tensor();
  launch_rms_norm(xc.data(), y.data(), x.dtype(), leading_numel(x, 1), x.size(-1), norm_param(w), eps,
                  stream_);
  return y;
}

Tensor CudaDeviceOps::channel_rms_norm(const Tensor& x, const Tensor& gamma, const Tensor& bias, float eps) {
  const DeviceGuard guard(device_index_);
  Tensor y = empty(x.shape(), x.dtype());
  if (y.numel() == 0) return y;
  const Tensor xc = dense(x);
  // gamma and bias hold C values in any [C, 1, ..., 1] shape: contiguous, they are C consecutive values.
  const Tensor g = dense(gamma), b = bias.defined() ? dense(bias) : Tensor();
  const std::int64_t batch = x.size(0), channels = x.size(1);
  launch_channel_rms_norm(xc.data(), y.data(), x.dtype(), batch, channels, x.numel() / (batch * channels),
                          norm_param(g), norm_param(b), eps, stream_);
  return y;
}

Tensor CudaDeviceOps::apply_rope(const Tensor& x, const ops::RopeTable& table) {
  const DeviceGuard guard(device_index_);
  Tensor y = empty(x.shape(), x.dtype());
  if (y.numel() == 0) return y;
  const Tensor xc = dense(x), cos = dense(table.cos, DType::f32), sin = dense(table.sin, DType::f32);
  const RopeDims dims{x.size(0), x.size(1), x.size(2), x.size(3)};
  launch_rope(xc.data(), y.data(), x.dtype(), dims, cos.data_as<float>(), sin.data_as<float>(),
              table.cos.rank() == 3, table.style == ops::RopeStyle::interleaved, stream_);
  return y;
}

Tensor CudaDeviceOps::embedding(const Tensor& indices, const Tensor& table) {
  const DeviceGuard guard(device_index_);
  const std::int64_t count = indices.numel(), vocab = table.size(0), dim = table.size(1);
  Shape out_shape = indices.shape();
  out_shape.push_back(dim);
  Tensor out = empty(out_shape, table.dtype());
  if (count == 0) return out;
  const Tensor ids = dense(indices);
  // The launcher reads rows of unit column stride at any row pitch.
  const bool rows_readable = table.stride(1) == 1 && table.stride(0) >= dim;
  const Tensor rows = rows_readable ? table : dense(table);
  // The first bad position, initialized above any position (0x7F.. bytes: a large positive i64).
  Tensor first_bad = empty({1}, DType::i64);
  VRAMKIT_CUDA_CHECK(cudaMemsetAsync(first_bad.data(), 0x7F, sizeof(std::int64_t), stream_));
  launch_embedding(
      EmbeddingTable{rows.data(), rows.dtype(), vocab, dim, rows_readable ? table.stride(0) : dim},
      ids.data(), ids.dtype(), count, out.data(), first_bad.data_as<std::int64_t>(), stream_);
  // The one synchronization of the ops: an out-of-range id must throw, as on the CPU.
  std::int64_t bad = 0;
  VRAMKIT_CUDA_CHECK(cudaMemcpyAsync(&bad, first_bad.data(), sizeof bad, cudaMemcpyDeviceToHost, stream_));
  VRAMKIT_CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (bad >= count) return out;
  std::int64_t id = 0;
  if (ids.dtype() == DType::i32) {
    std::int32_t id32 = 0;
    VRAMKIT_CUDA_CHECK(
        cudaMemcpy(&id32, ids.data_as<std::int32_t>() + bad, sizeof id32, cudaMemcpyDeviceToHost));
    id = id32;
  } else {
    VRAMKIT_CUDA_CHECK(cudaMemcpy(&id, ids.data_as<std::int64_t>() + bad, sizeof id, cudaMemcpyDeviceToHost));
  }
  throw ArgumentError("embedding: " + ops::describe({{"indices", &indices}, {"table", &table}}) + ": index " +
                      std::to_string(id) + " (element " + std::to_string(bad) + ") is outside [0, " +
                      std::to_string(vocab) + ")");
}

Tensor CudaDeviceOps::attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                const ops::AttentionOptions& options) {
  const DeviceGuard guard(device_index_);
  const DType dtype = q.dtype();
  const ops::cpu::AttentionDims dims{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3)};
  const float scale = options.scale.value_or(1.0f / std::sqrt(static_cast<float>(dims.head_dim)));
  if (!options.key_lengths.empty()) {
    if (Tensor out = attention_by_lengths(q, k, v, options.key_lengths, options.causal, scale); out.defined())
      return out;
    // Else the lengths as a key mask, on the device.
    const Tensor host_mask = ops::key_mask_of_lengths(options.key_lengths, dims.kv_len);
    ops::AttentionOptions masked = options;
    masked.key_lengths.clear();
    masked.key_mask = empty(host_mask.shape(), DType::u8);
    VRAMKIT_CUDA_CHECK(cudaMemcpyAsync(masked.key_mask.data(), host_mask.data(), host_mask.nbytes(),
                                       cudaMemcpyHostToDevice, stream_));
    return attention(q, k, v, masked);
  }
  // The key padding mask as the B·Lk bytes both paths read.
  Tensor key_valid;
  if (options.key_mask.defined()) {
    const Tensor mask = dense(options.key_mask);
    key_valid = empty({dims.batch, dims.kv_len}, DType::u8);
    launch_mask_to_bytes(mask.data(), mask.dtype(), mask.numel(), key_valid.data_as<std::uint8_t>(), stream_);
  }
  const bool by_cudnn = (dtype == DType::bf16 || dtype == DType::f16) && cudnn() &&
                        cudnn_->supports(dtype, dims, key_valid.defined(), options.causal);
  if (!by_cudnn && !attention_supported(dtype, dims.head_dim))
    return attention_by_gemm(q, k, v, key_valid, options.causal, scale);
  Tensor out = empty(q.shape(), dtype);
  if (out.numel() == 0) return out;
  const Tensor qc = dense(q), kc = dense(k, dtype), vc = dense(v, dtype);
  if (by_cudnn) {
    cudnn_->run(qc.data(), kc.data(), vc.data(), out.data(), dtype, dims,
                key_valid.defined() ? key_valid.data_as<std::uint8_t>() : nullptr, options.causal, scale,
                stream_);
    return out;
  }
  launch_attention(qc.data(), kc.data(), vc.data(), out.data(), dtype, dims,
                   key_valid.defined() ? key_valid.data_as<std::uint8_t>() : nullptr, options.causal, scale,
                   AttentionKernel::tensor_cores, stream_);
  return out;
}

// Each sequence through cuDNN's unmasked kernel over its first key_lengths[b] keys (a contiguous block of k
// and v: [Lk, Hkv, D] per sequence), or zeros where it has none; undefined where cuDNN does not take every
// sequence (causal, f32, its head_dim limits: the caller then builds a key mask).
Tensor CudaDeviceOps::attention_by_lengths(const Tensor& q, const Tensor& k, const Tensor& v,
                                           const std::vector<std::int64_t>& key_lengths, bool causal,
                                           float scale) {
  const DType dtype = q.dtype();
  if (causal || (dtype != DType::bf16 && dtype != DType::f16) || !cudnn()) return Tensor();
  const std::int64_t batch = q.size(0), q_len = q.size(1), kv_len = k.size(1);
  const auto sequence = [&](std::int64_t keys) {
    return ops::cpu::AttentionDims{1, q_len, keys, q.size(2), k.size(2), q.size(3)};
  };
  for (const std::int64_t keys : key_lengths)
    if (keys > 0 && !cudnn_->supports(dtype, sequence(keys), false, false)) return Tensor();
  Tensor out = empty(q.shape(), dtype);
  if (out.numel() == 0) return out;
  const Tensor qc = dense(q), kc = dense(k, dtype), vc = dense(v, dtype);
  const auto element = static_cast<std::int64_t>(dtype_size(dtype));
  const std::int64_t q_bytes = q_len * q.size(2) * q.size(3) * element;
  const std::int64_t kv_bytes = kv_len * k.size(2) * k.size(3) * element;
  for (std::int64_t b = 0; b < batch; ++b) {
    auto* o = static_cast<char*>(out.data()) + b * q_bytes;
    const std::int64_t keys = key_lengths[static_cast<std::size_t>(b)];
    if (keys == 0) {  // no allowed key: zeros, by ops::attention's definition
      VRAMKIT_CUDA_CHECK(cudaMemsetAsync(o, 0, static_cast<std::size_t>(q_bytes), stream_));
      continue;
    }
    cudnn_->run(static_cast<const char*>(qc.data()) + b * q_bytes,
                static_cast<const char*>(kc.data()) + b * kv_bytes,
                static_cast<const char*>(vc.data()) + b * kv_bytes, o, dtype, sequence(keys), nullptr, false,
                scale, stream_);
  }
  return out;
}

CudnnAttention* CudaDeviceOps::cudnn() {
  if (!cudnn_tried_) {
    cudnn_tried_ = true;
    try {
      cudnn_ = std::make_unique<CudnnAttention>(allocator_);
    } catch (const std::exception& e) {
      log_warn(std::string("cuDNN attention is unavailable, using vramkit's own kernel: ") + e.what());
    }
  }
  return cudnn_.get();
}

Tensor CudaDeviceOps::attention_by_gemm(const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Tensor& key_valid, bool causal, float scale) {
  const std::int64_t batch = q.size(0), q_len = q.size(1), q_heads = q.size(2), head_dim = q.size(3);
  const std::int64_t kv_len = k.size(1), kv_heads = k.size(2);
  Tensor out = empty(q.shape(), q.dtype());
  if (out.numel() == 0) return out;
  // q, k, v head-major in f32, [B, H, L, D]: each head's rows form one row-major matrix for the GEMMs.
  auto head_major = [&](const Tensor& t) {
    const Shape shape{t.size(0), t.size(2), t.size(1), t.size(3)};
    Tensor r = empty(shape, DType::f32);
    if (r.numel() > 0)
      launch_copy(StridedInput{t.data(), t.dtype(), {t.stride(0), t.stride(2), t.stride(1), t.stride(3)}},
                  r.data(), DType::f32, dims_of(shape), stream_);
    return r;
  };
  const Tensor qh = head_major(q), kh = head_major(k), vh = head_major(v);
  Tensor oh = empty({batch, q_heads, q_len, head_dim}, DType::f32);
  if (kv_len == 0) {  // no key at all: every row is fully masked, which gives zeros
    VRAMKIT_CUDA_CHECK(cudaMemsetAsync(oh.data(), 0, oh.nbytes(), stream_));
  } else {
    // Query rows per block so that the f32 score block [block, Lk] stays within the scratch bound.
    const std::int64_t block = std::clamp<std::int64_t>(
        static_cast<std::int64_t>(scratch_budget() / (static_cast<std::size_t>(kv_len) * sizeof(float))), 1,
        q_len);
    Tensor scores = empty({block, kv_len}, DType::f32);
    auto* s = scores.data_as<float>();
    const std::int64_t group = q_heads / kv_heads;
    for (std::int64_t b = 0; b < batch; ++b) {
      const std::uint8_t* valid =
          key_valid.defined() ? key_valid.data_as<std::uint8_t>() + b * kv_len : nullptr;
      for (std::int64_t h = 0; h < q_heads; ++h) {
        const std::int64_t kv_head = b * kv_heads + h / group;
        const float* qm = qh.data_as<float>() + (b * q_heads + h) * q_len * head_dim;
        const float* km = kh.data_as<float>() + kv_head * kv_len * head_dim;
        const float* vm = vh.data_as<float>() + kv_head * kv_len * head_dim;
        float* om = oh.data_as<float>() + (b * q_heads + h) * q_len * head_dim;
        for (std::int64_t first = 0; first < q_len; first += block) {
          const std::int64_t rows = std::min(block, q_len - first);
          // S = scale · q·kᵀ (k stored [Lk, D]: transposed operand)
          launch_matmul_gemm(*gemm_,
                             MatmulGemm{qm + first * head_dim, km, s, DType::f32, 1, rows, kv_len, head_dim,
                                        true, 0, 0, scale},
                             stream_);
          launch_mask_scores(s, rows, kv_len, first, q_len, valid, causal, stream_);
          launch_softmax(s, s, DType::f32, rows, kv_len, stream_);
          // O = P·V
          launch_matmul_gemm(
              *gemm_,
              MatmulGemm{s, vm, om + first * head_dim, DType::f32, 1, rows, head_dim, kv_len, false, 0, 0},
              stream_);
        }
      }
    }
  }
  // Back to [B, Lq, Hq, D] in q's dtype.
  launch_copy(
      StridedInput{oh.data(), DType::f32, {q_heads * q_len * head_dim, head_dim, q_len * head_dim, 1}},
      out.data(), q.dtype(), dims_of(q.shape()), stream_);
  return out;
}

Tensor CudaDeviceOps::conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             const ops::Conv2dParams& params) {
  const DeviceGuard guard(device_index_);
  const DType dtype = x.dtype();
  const Conv2dDims dims{x.size(0),        x.size(1),         x.size(2),         x.size(3),
                        weight.size(0),   weight.size(2),    weight.size(3),    params.stride[0],
                        params.stride[1], params.padding[0], params.padding[1], params.padding[2],
                        params.padding[3]};
  Tensor y = empty({dims.batch, dims.out_channels, dims.out_height(), dims.out_width()}, dtype);
  if (y.numel() == 0) return y;
  const Tensor xc = dense(x), w = dense(weight, dtype), b = bias.defined() ? dense(bias, dtype) : Tensor();
  const std::size_t scratch_bytes = conv2d_scratch_bytes(dims, dtype, scratch_budget());
  const Tensor scratch =
      scratch_bytes > 0 ? empty({static_cast<std::int64_t>(scratch_bytes)}, DType::u8) : Tensor();
  launch_conv2d(*gemm_, xc.data(), w.data(), b.defined() ? b.data() : nullptr, y.data(), dtype, dims,
                scratch.defined() ? scratch.data() : nullptr, scratch_bytes, stream_);
  return y;
}

}  // namespace vramkit::cuda
