#include "ops/op_util.h"

#include "vramkit/error.h"

namespace vramkit::ops {

std::string describe(std::initializer_list<std::pair<std::string_view, const Tensor*>> tensors) {
  std::string s;
  for (const auto& [name, t] : tensors) {
    if (!s.empty()) s += ", ";
    s += std::string(name) + " " + (t ? t->str() : std::string("<none>"));
  }
  return s;
}

void check_dtype(std::string_view op, std::string_view name, const Tensor& t, std::initializer_list<DType> allowed) {
  for (DType d : allowed)
    if (t.dtype() == d) return;
  std::string list;
  for (DType d : allowed) list += (list.empty() ? "" : ", ") + std::string(dtype_name(d));
  throw DTypeError(std::string(op) + ": " + std::string(name) + " " + t.str() + " has an unsupported dtype; supported: " +
                   list);
}

void check_rank(std::string_view op, std::string_view name, const Tensor& t, int rank) {
  if (t.rank() != rank)
    throw ShapeError(std::string(op) + ": " + std::string(name) + " must have rank " + std::to_string(rank) +
                     ", got " + t.str());
}

void check_defined(std::string_view op, std::string_view name, const Tensor& t) {
  if (!t.defined()) throw ArgumentError(std::string(op) + ": " + std::string(name) + " is undefined");
}

void check_channel_vector(std::string_view op, std::string_view name, const Tensor& v, const Tensor& x,
                          const Tensor& weight) {
  if (v.rank() != 1 || v.size(0) != weight.size(0))
    throw ShapeError(std::string(op) + ": " + describe({{"x", &x}, {"weight", &weight}, {name, &v}}) + ": " +
                     std::string(name) + " must have shape [" + std::to_string(weight.size(0)) +
                     "] (one per output channel)");
}

Tensor to_f32_contiguous(const Tensor& t) {
  if (t.dtype() == DType::f32 && t.is_contiguous()) return t;
  return t.to(DType::f32);
}

Tensor f32_to_dtype(const Tensor& t, DType dtype) { return dtype == DType::f32 ? t : t.to(dtype); }

}  // namespace vramkit::ops
