// The row engine shared by the element-wise, activation and last-dimension norm kernels: walks the rows (last
// dimension) of an output shape, hands each row of every input to a row function as contiguous f32, and
// stores the f32 row the function produced into the output's dtype.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "core/dtype.h"
#include "core/shape.h"

namespace vramkit::ops::cpu {

// An operand seen through the output's shape: element `index` lives at data + Σ index[d] · strides[d]
// elements; broadcast dimensions have stride 0.
struct RowOperand {
  const void* data;
  DType dtype;
  Shape strides;
};

// The output: same layout rules, written.
struct RowOutput {
  void* data;
  DType dtype;
  Shape strides;
};

// in[i] points at `len` f32 values of input i; the function writes `len` f32 values to out. in[i] and out
// never alias, except in an in-place map (below), where out may be in[0] itself.
using RowFn = std::function<void(const float* const* in, float* out, std::int64_t len)>;

// Runs fn over every row of `shape` (rank 0 counts as one row of one element). `out` must not alias an input,
// except in an in-place map: out is inputs[0] (same data, dtype and strides) and out[j] of fn depends on
// in[..][j] alone (an element-wise fn that reads in[0][j] before it writes out[j]); each row is then read
// before it is written at the same place.
// keep_rows: the rows are the units of the computation (a reduction over the last dimension); otherwise
// dimensions that every operand walks contiguously are merged into longer rows first.
// Threading: OpenMP over rows, one set of f32 row buffers per thread; small shapes stay on one thread.
void map_rows(const Shape& shape, std::span<const RowOperand> inputs, const RowOutput& out, bool keep_rows,
              const RowFn& fn);

}  // namespace vramkit::ops::cpu
