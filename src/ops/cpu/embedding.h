// Raw CPU kernel of embedding (see ops/embedding.h).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace vramkit::ops::cpu {

// Copies table row rows[i] (element stride col_stride inside a row, row_stride between rows, in elements of
// `dtype`) to the contiguous row i of out [count, cols]. Every rows[i] must already be in range.
void gather_rows(const void* table, DType dtype, std::int64_t row_stride, std::int64_t col_stride,
                 std::int64_t cols, const std::int64_t* rows, std::int64_t count, void* out);

}  // namespace vramkit::ops::cpu
