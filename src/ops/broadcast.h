// Numpy-style broadcasting for the element-wise ops: shapes align from the right and a missing or size-1
// dimension expands to the other's size. Callers pass a [B, D] modulation to x [B, L, D] as mod.unsqueeze(1).
#pragma once

#include <initializer_list>
#include <string_view>
#include <utility>

#include "core/tensor.h"
#include "ops/cpu/row_map.h"

namespace vramkit::ops {

// The common shape of the tensors; ShapeError "<op>: a f32[2, 3] cpu, b ...: shapes do not broadcast" if
// none.
Shape broadcast_shape(std::string_view op,
                      std::initializer_list<std::pair<std::string_view, const Tensor*>> tensors);

// t as a row-engine operand over `shape` (which t broadcasts to): expanded dimensions get stride 0.
cpu::RowOperand broadcast_operand(const Tensor& t, const Shape& shape);

// A fresh contiguous tensor of `shape` and `dtype` on `device` (host-accessible: cpu or emu) and the
// row-engine output that writes it.
std::pair<Tensor, cpu::RowOutput> new_output(const Shape& shape, DType dtype, Device device);

}  // namespace vramkit::ops
