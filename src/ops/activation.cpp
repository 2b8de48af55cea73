#include "ops/activation.h"

#include <functional>
#include <string>

#include "ops/broadcast.h"
#include "ops/cpu/activation.h"
#include "ops/op_util.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

using RowKernel = void (*)(const float*, float*, std::int64_t);

// A one-input row kernel over x (host-accessible) into `out`: a fresh tensor, or x itself (row_map.h's
// in-place map: element i of the output depends on element i of the input alone).
void run_rows(const Tensor& x, RowKernel row, const cpu::RowOutput& out) {
  const cpu::RowOperand in = broadcast_operand(x, x.shape());
  cpu::map_rows(x.shape(), {&in, 1}, out, false,
                [row](const float* const* ins, float* o, std::int64_t n) { row(ins[0], o, n); });
}

// Checks x and runs a one-input row kernel over it, or the device's own op.
Tensor map_unary(std::string_view op, const Tensor& x, RowKernel row,
                 const std::function<Tensor(DeviceOps&)>& on_device) {
  check_defined(op, "x", x);
  check_dtype(op, "x", x, kFloatActivations);
  if (DeviceOps* d = device_ops_for(x.device())) return on_device(*d);
  auto [result, out] = new_output(x.shape(), x.dtype(), x.device());
  run_rows(x, row, out);
  return result;
}

RowKernel gelu_row(GeluApproximation approximation) {
  return approximation == GeluApproximation::tanh ? cpu::gelu_tanh_row : cpu::gelu_erf_row;
}

}  // namespace

Tensor gelu(const Tensor& x, GeluApproximation approximation) {
  return map_unary("gelu", x, gelu_row(approximation),
                   [&](DeviceOps& d) { return d.gelu(x, approximation); });
}

void gelu_in_place(const Tensor& x, GeluApproximation approximation) {
  constexpr const char* kOp = "gelu_in_place";
  check_defined(kOp, "x", x);
  check_dtype(kOp, "x", x, kFloatActivations);
  if (!x.is_contiguous())
    throw ArgumentError(std::string(kOp) + ": x " + x.str() + " must be contiguous (it is overwritten)");
  if (DeviceOps* d = device_ops_for(x.device())) return d->gelu_in_place(x, approximation);
  run_rows(x, gelu_row(approximation), cpu::RowOutput{x.data(), x.dtype(), x.strides()});
}

Tensor silu(const Tensor& x) {
  return map_unary("silu", x, cpu::silu_row, [&](DeviceOps& d) { return d.silu(x); });
}

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  constexpr const char* kOp = "swiglu";
  for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"gate", &gate}, {"up", &up}}) {
    check_defined(kOp, name, *t);
    check_dtype(kOp, name, *t, kFloatActivations);
  }
  const Device device = op_device(kOp, {{"gate", &gate}, {"up", &up}});
  const Shape shape = broadcast_shape(kOp, {{"gate", &gate}, {"up", &up}});
  if (DeviceOps* d = device_ops_for(device)) return d->binary(BinaryKind::swiglu, gate, up);
  auto [result, out] = new_output(shape, gate.dtype(), device);
  const cpu::RowOperand ins[] = {broadcast_operand(gate, shape), broadcast_operand(up, shape)};
  cpu::map_rows(shape, ins, out, false, [](const float* const* in, float* o, std::int64_t n) {
    cpu::swiglu_row(in[0], in[1], o, n);
  });
  return result;
}

Tensor swiglu(const Tensor& gate_up) {
  check_defined("swiglu", "gate_up", gate_up);
  if (gate_up.rank() < 1 || gate_up.size(-1) % 2 != 0)
    throw ShapeError("swiglu: gate_up " + gate_up.str() + " must have an even last dimension ([gate | up])");
  const std::int64_t f = gate_up.size(-1) / 2;
  return swiglu(gate_up.slice(-1, 0, f), gate_up.slice(-1, f, 2 * f));
}

}  // namespace vramkit::ops
