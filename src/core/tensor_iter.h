// Row iteration shared by every strided copy of two tensors of one shape: walks all indices but the last with an
// odometer and calls row(a_offset, b_offset, length, a_step, b_step) once per last-dimension row, offsets and
// steps in elements of each layout, so that callers can copy or convert a whole run at once.
#pragma once

#include <array>
#include <cstdint>

#include "core/shape.h"

namespace vramkit {

template <typename RowFn>
void for_each_row(const Shape& shape, const Shape& a_strides, const Shape& b_strides, RowFn&& row) {
  const int rank = shape.rank();
  if (shape.numel() == 0) return;
  if (rank == 0) {
    row(std::int64_t{0}, std::int64_t{0}, std::int64_t{1}, std::int64_t{1}, std::int64_t{1});
    return;
  }
  const std::int64_t len = shape[rank - 1];
  const std::int64_t a_step = a_strides[rank - 1];
  const std::int64_t b_step = b_strides[rank - 1];
  std::array<std::int64_t, kMaxRank> idx{};
  std::int64_t a = 0, b = 0;
  for (;;) {
    row(a, b, len, a_step, b_step);
    int d = rank - 2;
    for (; d >= 0; --d) {
      const auto du = static_cast<std::size_t>(d);
      if (++idx[du] < shape[d]) {
        a += a_strides[d];
        b += b_strides[d];
        break;
      }
      a -= a_strides[d] * (shape[d] - 1);
      b -= b_strides[d] * (shape[d] - 1);
      idx[du] = 0;
    }
    if (d < 0) return;
  }
}

}  // namespace vramkit
