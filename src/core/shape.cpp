#include "core/shape.h"

#include "vramkit/error.h"

namespace vramkit {

Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  if (dims.size() > kMaxRank)
    throw ShapeError("rank " + std::to_string(dims.size()) + " exceeds the maximum of " + std::to_string(kMaxRank));
  for (const auto d : dims) push_back(d);
}

void Shape::push_back(std::int64_t d) {
  if (rank_ == kMaxRank) throw ShapeError("rank exceeds the maximum of " + std::to_string(kMaxRank));
  if (d < 0) throw ShapeError("negative dimension " + std::to_string(d));
  dims_[static_cast<std::size_t>(rank_++)] = d;
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < rank_; ++i) {
    if (__builtin_mul_overflow(n, dims_[static_cast<std::size_t>(i)], &n))
      throw ShapeError("element count of shape " + str() + " overflows 64 bits");
  }
  return n;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[static_cast<std::size_t>(i)]);
  }
  return s + "]";
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides = shape;
  std::int64_t s = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
  return strides;
}

}  // namespace vramkit
