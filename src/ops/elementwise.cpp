#include "ops/elementwise.h"

#include <string>

#include "ops/broadcast.h"
#include "ops/cpu/elementwise.h"
#include "ops/op_util.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

using Named = std::pair<std::string_view, const Tensor*>;

void check_inputs(std::string_view op, std::initializer_list<Named> tensors) {
  for (const auto& [name, t] : tensors) {
    check_host(op, name, *t);
    check_dtype(op, name, *t, kFloatActivations);
  }
}

// Broadcasts the operands, runs fn over the rows and returns the result in the first operand's dtype.
Tensor map_elementwise(std::string_view op, std::initializer_list<Named> tensors, const cpu::RowFn& fn) {
  check_inputs(op, tensors);
  const Shape shape = broadcast_shape(op, tensors);
  std::vector<cpu::RowOperand> inputs;
  for (const auto& [name, t] : tensors) inputs.push_back(broadcast_operand(*t, shape));
  auto [result, out] = new_output(shape, tensors.begin()->second->dtype());
  cpu::map_rows(shape, inputs, out, false, fn);
  return result;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return map_elementwise(
      "add", {{"a", &a}, {"b", &b}},
      [](const float* const* in, float* out, std::int64_t n) { cpu::add_row(in[0], in[1], out, n); });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return map_elementwise(
      "mul", {{"a", &a}, {"b", &b}},
      [](const float* const* in, float* out, std::int64_t n) { cpu::mul_row(in[0], in[1], out, n); });
}

Tensor scale(const Tensor& x, double s) {
  const auto sf = static_cast<float>(s);
  return map_elementwise("scale", {{"x", &x}}, [sf](const float* const* in, float* out, std::int64_t n) {
    cpu::scale_row(in[0], sf, out, n);
  });
}

Tensor modulate(const Tensor& x, const Tensor& shift, const Tensor& scale) {
  return map_elementwise("modulate", {{"x", &x}, {"shift", &shift}, {"scale", &scale}},
                         [](const float* const* in, float* out, std::int64_t n) {
                           cpu::modulate_row(in[0], in[1], in[2], out, n);
                         });
}

Tensor gated_residual(const Tensor& x, const Tensor& gate, const Tensor& y) {
  return map_elementwise("gated_residual", {{"x", &x}, {"gate", &gate}, {"y", &y}},
                         [](const float* const* in, float* out, std::int64_t n) {
                           cpu::gated_residual_row(in[0], in[1], in[2], out, n);
                         });
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  if (!(lo <= hi))
    throw ArgumentError("clamp: " + x.str() + ": lo " + std::to_string(lo) + " is not <= hi " +
                        std::to_string(hi));
  const auto lf = static_cast<float>(lo), hf = static_cast<float>(hi);
  return map_elementwise("clamp", {{"x", &x}}, [lf, hf](const float* const* in, float* out, std::int64_t n) {
    cpu::clamp_row(in[0], lf, hf, out, n);
  });
}

Tensor cast(const Tensor& x, DType dtype) {
  check_host("cast", "x", x);
  return x.to(dtype);
}

}  // namespace vramkit::ops
