// Raw CPU strided copy shared by the layout ops.
#pragma once

#include <cstddef>

#include "core/shape.h"

namespace vramkit::ops::cpu {

// Copies the elements of `shape` (element size elem_size bytes) from src to dst, both addressed by element
// strides. The regions must not overlap.
void copy_strided(const void* src, const Shape& src_strides, void* dst, const Shape& dst_strides,
                  const Shape& shape, std::size_t elem_size);

}  // namespace vramkit::ops::cpu
