// Layout ops: validation and dispatch (contract in layout.h, copy kernel in cpu/layout.cpp).
#include "ops/layout.h"

#include <string>

#include "ops/cpu/layout.h"
#include "ops/op_util.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

// Copies src (any strides) into dst (same shape and dtype, any strides; host-accessible).
void copy_into(const Tensor& src, const Tensor& dst) {
  cpu::copy_strided(src.data(), src.strides(), dst.data(), dst.strides(), src.shape(), src.element_size());
}

// A new contiguous tensor on src's device holding src (any strides) viewed as `shape` (same element count):
// the gather that every copying layout op is.
Tensor gather_copy(const Tensor& src, const Shape& shape) {
  Tensor out = empty_on(src.device(), shape, src.dtype());
  const Tensor dst = out.reshape(src.shape());
  if (DeviceOps* d = device_ops_for(src.device())) {
    d->copy(dst, src);
  } else {
    copy_into(src, dst);
  }
  return out;
}

int normalized_dim(const char* op, const Tensor& t, int dim) {
  const int d = dim < 0 ? dim + t.rank() : dim;
  if (d < 0 || d >= t.rank())
    throw ShapeError(std::string(op) + ": dim " + std::to_string(dim) + " is out of range for " + t.str());
  return d;
}

}  // namespace

Tensor concat(std::span<const Tensor> tensors, int dim) {
  constexpr const char* kOp = "concat";
  if (tensors.empty()) throw ArgumentError("concat: no tensors");
  const Tensor& first = tensors[0];
  check_defined(kOp, "tensors[0]", first);
  const int d = normalized_dim(kOp, first, dim);
  Shape shape = first.shape();
  shape[d] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    const std::string name = "tensors[" + std::to_string(i) + "]";
    check_defined(kOp, name, t);
    if (t.device() != first.device())
      throw ArgumentError(std::string(kOp) + ": " + describe({{"tensors[0]", &first}, {name, &t}}) +
                          ": the tensors are on different devices");
    bool ok = t.dtype() == first.dtype() && t.rank() == first.rank();
    for (int k = 0; ok && k < t.rank(); ++k) ok = k == d || t.size(k) == first.size(k);
    if (!ok)
      throw ShapeError(std::string(kOp) + ": " + describe({{"tensors[0]", &first}, {name, &t}}) +
                       " differ in dtype, rank or a dim other than " + std::to_string(dim));
    shape[d] += t.size(d);
  }
  if (DeviceOps* ops = device_ops_for(first.device())) return ops->concat(tensors, d);
  Tensor out = empty_on(first.device(), shape, first.dtype());
  std::int64_t offset = 0;
  for (const Tensor& t : tensors) {
    copy_into(t, out.slice(d, offset, offset + t.size(d)));
    offset += t.size(d);
  }
  return out;
}

Tensor concat(std::initializer_list<Tensor> tensors, int dim) {
  return concat(std::span<const Tensor>(tensors.begin(), tensors.size()), dim);
}

std::vector<Tensor> split(const Tensor& x, std::span<const std::int64_t> sizes, int dim) {
  constexpr const char* kOp = "split";
  check_defined(kOp, "x", x);
  const int d = normalized_dim(kOp, x, dim);
  std::int64_t total = 0;
  std::string list;
  bool negative = false;
  for (std::int64_t s : sizes) {
    list += (list.empty() ? "" : ", ") + std::to_string(s);
    total += s;
    negative = negative || s < 0;
  }
  if (negative || total != x.size(d))
    throw ShapeError(std::string(kOp) + ": sizes [" + list + "] must be non-negative and sum to dim " +
                     std::to_string(dim) + " of " + x.str());
  std::vector<Tensor> parts;
  std::int64_t offset = 0;
  for (std::int64_t s : sizes) {
    parts.push_back(x.slice(d, offset, offset + s));
    offset += s;
  }
  return parts;
}

std::vector<Tensor> split(const Tensor& x, std::initializer_list<std::int64_t> sizes, int dim) {
  return split(x, std::span<const std::int64_t>(sizes.begin(), sizes.size()), dim);
}

Tensor contiguous(const Tensor& x) {
  check_defined("contiguous", "x", x);
  if (x.is_contiguous()) return x;
  return gather_copy(x, x.shape());
}

Tensor permute_contiguous(const Tensor& x, std::span<const int> order) {
  check_defined("permute_contiguous", "x", x);
  const Tensor view = x.permute(order);  // validates the order
  return gather_copy(view, view.shape());
}

Tensor permute_contiguous(const Tensor& x, std::initializer_list<int> order) {
  return permute_contiguous(x, std::span<const int>(order.begin(), order.size()));
}

Tensor pack_latents(const Tensor& latents) {
  constexpr const char* kOp = "pack_latents";
  check_defined(kOp, "latents", latents);
  check_rank(kOp, "latents", latents, 4);
  const std::int64_t b = latents.size(0), c = latents.size(1), h = latents.size(2), w = latents.size(3);
  if (h % 2 != 0 || w % 2 != 0)
    throw ShapeError(std::string(kOp) + ": latents " + latents.str() + ": height and width must be even");
  // The output viewed as (b, row, col, c, dy, dx), contiguous, reads latents[b, c, 2·row + dy, 2·col + dx].
  const Tensor view = latents.reshape({b, c, h / 2, 2, w / 2, 2}).permute({0, 2, 4, 1, 3, 5});
  return gather_copy(view, {b, (h / 2) * (w / 2), c * 4});
}

Tensor unpack_latents(const Tensor& packed, std::int64_t height, std::int64_t width) {
  constexpr const char* kOp = "unpack_latents";
  check_defined(kOp, "packed", packed);
  check_rank(kOp, "packed", packed, 3);
  const std::int64_t b = packed.size(0), n = packed.size(1), c4 = packed.size(2);
  if (height <= 0 || width <= 0 || height % 2 != 0 || width % 2 != 0 || c4 % 4 != 0 ||
      n != (height / 2) * (width / 2))
    throw ShapeError(std::string(kOp) + ": packed " + packed.str() + " does not hold a latent of height " +
                     std::to_string(height) + " x width " + std::to_string(width) +
                     " (needs even sizes, (height/2)·(width/2) tokens and channels a multiple of 4)");
  // The output viewed as (b, c, row, dy, col, dx), contiguous, reads packed[b, row·(W/2) + col, c·4 + dy·2 +
  // dx].
  const std::int64_t c = c4 / 4, w2 = width / 2;
  const Tensor view = packed.reshape({b, height / 2, w2, c, 2, 2}).permute({0, 3, 1, 4, 2, 5});
  return gather_copy(view, {b, c, height, width});
}

}  // namespace vramkit::ops
