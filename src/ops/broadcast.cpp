#include "ops/broadcast.h"

#include <algorithm>
#include <string>

#include "ops/op_util.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::ops {

Shape broadcast_shape(std::string_view op,
                      std::initializer_list<std::pair<std::string_view, const Tensor*>> tensors) {
  int rank = 0;
  for (const auto& [name, t] : tensors) rank = std::max(rank, t->rank());
  Shape shape;
  for (int d = 0; d < rank; ++d) {
    std::int64_t size = 1;
    for (const auto& [name, t] : tensors) {
      const int td = d - (rank - t->rank());
      if (td < 0 || t->size(td) == 1) continue;
      if (size != 1 && size != t->size(td))
        throw ShapeError(std::string(op) + ": " + describe(tensors) + ": shapes do not broadcast");
      size = t->size(td);
    }
    shape.push_back(size);
  }
  return shape;
}

cpu::RowOperand broadcast_operand(const Tensor& t, const Shape& shape) {
  Shape strides;
  const int lead = shape.rank() - t.rank();
  for (int d = 0; d < shape.rank(); ++d)
    strides.push_back(d < lead || t.size(d - lead) != shape[d] ? 0 : t.stride(d - lead));
  return {t.data(), t.dtype(), strides};
}

std::pair<Tensor, cpu::RowOutput> new_output(const Shape& shape, DType dtype, Device device) {
  Tensor out = empty_on(device, shape, dtype);
  return {out, cpu::RowOutput{out.data(), dtype, out.strides()}};
}

}  // namespace vramkit::ops
