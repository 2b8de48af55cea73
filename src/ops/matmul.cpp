#include "ops/matmul.h"

#include <algorithm>
#include <string>
#include <vector>

#include "ops/cpu/matmul.h"
#include "ops/op_util.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

constexpr const char* kMatmul = "matmul";

// An f32 operand whose matrix (last two dimensions) BLAS can read in place, and the layout it reads it with.
struct BlasOperand {
  Tensor tensor;
  cpu::GemmOperand layout;
};

// The layout of a [rows, cols] matrix with strides (row_stride, col_stride), if BLAS can read it directly.
// Strides of size-1 dimensions are free, so they never force a copy.
bool blas_layout(std::int64_t rows, std::int64_t cols, std::int64_t row_stride, std::int64_t col_stride,
                 cpu::GemmOperand* out) {
  const std::int64_t r = std::max<std::int64_t>(rows, 1), c = std::max<std::int64_t>(cols, 1);
  if ((col_stride == 1 || cols <= 1) && (rows <= 1 || row_stride >= c)) {
    *out = {nullptr, rows <= 1 ? c : row_stride, false};
    return true;
  }
  if ((row_stride == 1 || rows <= 1) && (cols <= 1 || col_stride >= r)) {
    *out = {nullptr, cols <= 1 ? r : col_stride, true};
    return true;
  }
  return false;
}

BlasOperand blas_operand(const Tensor& t) {
  const int r = t.rank();
  BlasOperand op{t, {}};
  if (t.dtype() != DType::f32 ||
      !blas_layout(t.size(r - 2), t.size(r - 1), t.stride(r - 2), t.stride(r - 1), &op.layout)) {
    op.tensor = t.to(DType::f32);
    blas_layout(t.size(r - 2), t.size(r - 1), op.tensor.stride(r - 2), op.tensor.stride(r - 1), &op.layout);
  }
  op.layout.data = op.tensor.data_as<float>();
  return op;
}

// Element offsets of every batch entry of `t` (batch dims = all but the last two) over the broadcast batch
// shape.
std::vector<std::int64_t> batch_offsets(const Tensor& t, const Shape& batch) {
  const int nb = batch.rank(), lead = nb - (t.rank() - 2);
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(batch.numel()));
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    std::int64_t rest = static_cast<std::int64_t>(i), off = 0;
    for (int d = nb - 1; d >= 0; --d) {
      const std::int64_t idx = rest % batch[d];
      rest /= batch[d];
      if (d >= lead && t.size(d - lead) != 1) off += idx * t.stride(d - lead);
    }
    offsets[i] = off;
  }
  return offsets;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_defined(kMatmul, "a", a);
  check_defined(kMatmul, "b", b);
  const Device device = op_device(kMatmul, {{"a", &a}, {"b", &b}});
  check_dtype(kMatmul, "a", a, kFloatActivations);
  check_dtype(kMatmul, "b", b, kFloatActivations);
  const auto shapes = [&] { return describe({{"a", &a}, {"b", &b}}); };
  if (a.rank() < 2 || b.rank() < 2)
    throw ShapeError(std::string(kMatmul) + ": " + shapes() + ": both operands need rank >= 2");
  const std::int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  if (b.size(-2) != k)
    throw ShapeError(std::string(kMatmul) + ": " + shapes() + ": inner dimensions differ (" +
                     std::to_string(k) + " vs " + std::to_string(b.size(-2)) + ")");
  const int nb = std::max(a.rank(), b.rank()) - 2;
  Shape out_shape;
  for (int d = 0; d < nb; ++d) {
    const int da = d - (nb - (a.rank() - 2)), db = d - (nb - (b.rank() - 2));
    const std::int64_t sa = da >= 0 ? a.size(da) : 1, sb = db >= 0 ? b.size(db) : 1;
    if (sa != sb && sa != 1 && sb != 1)
      throw ShapeError(std::string(kMatmul) + ": " + shapes() + ": batch dimensions do not broadcast");
    out_shape.push_back(sa == 1 ? sb : sa);
  }
  if (DeviceOps* d = device_ops_for(device)) return d->matmul(a, b);
  const Shape batch = out_shape;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor c = Tensor::empty(out_shape, DType::f32);
  if (c.numel() == 0) return place_result(f32_to_dtype(c, a.dtype()), device);
  const BlasOperand oa = blas_operand(a), ob = blas_operand(b);
  cpu::batched_gemm_f32(batch_offsets(oa.tensor, batch), batch_offsets(ob.tensor, batch), m, n, k, oa.layout,
                        ob.layout, c.data_as<float>());
  return place_result(f32_to_dtype(c, a.dtype()), device);
}

}  // namespace vramkit::ops
