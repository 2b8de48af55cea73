#include "ops/elementwise.h"

#include <functional>
#include <string>

#include "ops/broadcast.h"
#include "ops/cpu/elementwise.h"
#include "ops/op_util.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

using Named = std::pair<std::string_view, const Tensor*>;
using DeviceFn = std::function<Tensor(DeviceOps&)>;

// Checks the operands and finds their device: the device's own ops run `on_device`; host-accessible operands
// are broadcast and `fn` runs over the rows, the result in the first operand's dtype.
Tensor map_elementwise(std::string_view op, std::initializer_list<Named> tensors, const cpu::RowFn& fn,
                       const DeviceFn& on_device) {
  for (const auto& [name, t] : tensors) {
    check_defined(op, name, *t);
    check_dtype(op, name, *t, kFloatActivations);
  }
  const Device device = op_device(op, tensors);
  const Shape shape = broadcast_shape(op, tensors);
  if (DeviceOps* d = device_ops_for(device)) return on_device(*d);
  std::vector<cpu::RowOperand> inputs;
  for (const auto& [name, t] : tensors) inputs.push_back(broadcast_operand(*t, shape));
  auto [result, out] = new_output(shape, tensors.begin()->second->dtype(), device);
  cpu::map_rows(shape, inputs, out, false, fn);
  return result;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return map_elementwise(
      "add", {{"a", &a}, {"b", &b}},
      [](const float* const* in, float* out, std::int64_t n) { cpu::add_row(in[0], in[1], out, n); },
      [&](DeviceOps& d) { return d.binary(BinaryKind::add, a, b); });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return map_elementwise(
      "mul", {{"a", &a}, {"b", &b}},
      [](const float* const* in, float* out, std::int64_t n) { cpu::mul_row(in[0], in[1], out, n); },
      [&](DeviceOps& d) { return d.binary(BinaryKind::mul, a, b); });
}

Tensor scale(const Tensor& x, double s) {
  const auto sf = static_cast<float>(s);
  return map_elementwise(
      "scale", {{"x", &x}},
      [sf](const float* const* in, float* out, std::int64_t n) { cpu::scale_row(in[0], sf, out, n); },
      [&](DeviceOps& d) { return d.scale(x, sf); });
}

Tensor modulate(const Tensor& x, const Tensor& shift, const Tensor& scale) {
  return map_elementwise(
      "modulate", {{"x", &x}, {"shift", &shift}, {"scale", &scale}},
      [](const float* const* in, float* out, std::int64_t n) {
        cpu::modulate_row(in[0], in[1], in[2], out, n);
      },
      [&](DeviceOps& d) { return d.ternary(TernaryKind::modulate, x, shift, scale); });
}

Tensor gated_residual(const Tensor& x, const Tensor& gate, const Tensor& y) {
  return map_elementwise(
      "gated_residual", {{"x", &x}, {"gate", &gate}, {"y", &y}},
      [](const float* const* in, float* out, std::int64_t n) {
        cpu::gated_residual_row(in[0], in[1], in[2], out, n);
      },
      [&](DeviceOps& d) { return d.ternary(TernaryKind::gated_residual, x, gate, y); });
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  if (!(lo <= hi))
    throw ArgumentError("clamp: " + x.str() + ": lo " + std::to_string(lo) + " is not <= hi " +
                        std::to_string(hi));
  const auto lf = static_cast<float>(lo), hf = static_cast<float>(hi);
  return map_elementwise(
      "clamp", {{"x", &x}},
      [lf, hf](const float* const* in, float* out, std::int64_t n) { cpu::clamp_row(in[0], lf, hf, out, n); },
      [&](DeviceOps& d) { return d.clamp(x, lf, hf); });
}

Tensor cast(const Tensor& x, DType dtype) {
  check_defined("cast", "x", x);
  const Device device = x.device();
  Tensor out = empty_on(device, x.shape(), dtype);
  if (DeviceOps* d = device_ops_for(device)) {
    if (x.dtype() != dtype) {
      check_dtype("cast", "x", x, kFloatActivations);
      check_dtype("cast", "dtype", out, kFloatActivations);
    }
    d->copy(out, x);
  } else {
    out.copy_from(x);
  }
  return out;
}

}  // namespace vramkit::ops
