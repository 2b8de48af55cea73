// Row engine (see row_map.h). Each row is gathered and widened with convert_strided (so any dtype and any
// stride, broadcast stride 0 included, costs one pass); an f32 input row with unit stride is read in place
// and an f32 output row with unit stride is written in place. Precision: f32 rows, one rounding to the output
// dtype.
#include "ops/cpu/row_map.h"

#include <vector>

#include "core/convert.h"

namespace vramkit::ops::cpu {
namespace {

// Below this many elements the OpenMP start-up costs more than the work.
constexpr std::int64_t kParallelElements = 1 << 15;

// Merges dimension d-1 into d wherever every operand's strides make the pair one contiguous run.
void coalesce(Shape& shape, std::vector<Shape*>& strides) {
  int rank = shape.rank();
  for (int d = rank - 1; d > 0; --d) {
    bool mergeable = true;
    for (const Shape* s : strides) mergeable = mergeable && (*s)[d - 1] == (*s)[d] * shape[d];
    if (!mergeable) continue;
    Shape merged_shape;
    std::vector<Shape> merged(strides.size());
    for (int e = 0; e < rank; ++e) {
      if (e == d - 1) continue;
      merged_shape.push_back(e == d ? shape[d - 1] * shape[d] : shape[e]);
      for (std::size_t i = 0; i < strides.size(); ++i) merged[i].push_back((*strides[i])[e]);
    }
    shape = merged_shape;
    for (std::size_t i = 0; i < strides.size(); ++i) *strides[i] = merged[i];
    --rank;
  }
}

// Element offset of the first element of row `row` of an operand.
std::int64_t row_offset(std::int64_t row, const Shape& shape, const Shape& strides) {
  std::int64_t off = 0;
  for (int d = shape.rank() - 2; d >= 0; --d) {
    off += (row % shape[d]) * strides[d];
    row /= shape[d];
  }
  return off;
}

}  // namespace

void map_rows(const Shape& shape_in, std::span<const RowOperand> inputs_in, const RowOutput& out_in,
              bool keep_rows, const RowFn& fn) {
  Shape shape = shape_in.rank() == 0 ? Shape{1} : shape_in;
  if (shape.numel() == 0) return;
  std::vector<RowOperand> inputs(inputs_in.begin(), inputs_in.end());
  RowOutput out = out_in;
  if (out.strides.rank() == 0) out.strides = Shape{1};
  for (RowOperand& op : inputs)
    if (op.strides.rank() == 0) op.strides = Shape{1};
  if (!keep_rows) {
    std::vector<Shape*> strides{&out.strides};
    for (RowOperand& op : inputs) strides.push_back(&op.strides);
    coalesce(shape, strides);
  }
  const int last = shape.rank() - 1;
  const std::int64_t len = shape[last], rows = shape.numel() / len;
  const std::size_t n_in = inputs.size();
  const std::size_t out_size = dtype_size(out.dtype);

#pragma omp parallel if (shape.numel() >= kParallelElements)
  {
    std::vector<float> buffers((n_in + 1) * static_cast<std::size_t>(len));
    std::vector<const float*> in_rows(n_in);
#pragma omp for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::size_t i = 0; i < n_in; ++i) {
        const RowOperand& op = inputs[i];
        const auto* src = static_cast<const char*>(op.data) +
                          row_offset(r, shape, op.strides) * static_cast<std::int64_t>(dtype_size(op.dtype));
        if (op.dtype == DType::f32 && op.strides[last] == 1) {
          in_rows[i] = reinterpret_cast<const float*>(src);
        } else {
          float* buf = buffers.data() + i * static_cast<std::size_t>(len);
          convert_strided(src, op.dtype, op.strides[last], buf, DType::f32, 1, static_cast<std::size_t>(len));
          in_rows[i] = buf;
        }
      }
      auto* dst = static_cast<char*>(out.data) +
                  row_offset(r, shape, out.strides) * static_cast<std::int64_t>(out_size);
      if (out.dtype == DType::f32 && out.strides[last] == 1) {
        fn(in_rows.data(), reinterpret_cast<float*>(dst), len);
      } else {
        float* buf = buffers.data() + n_in * static_cast<std::size_t>(len);
        fn(in_rows.data(), buf, len);
        convert_strided(buf, DType::f32, 1, dst, out.dtype, out.strides[last], static_cast<std::size_t>(len));
      }
    }
  }
}

}  // namespace vramkit::ops::cpu
