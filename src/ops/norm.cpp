#include "ops/norm.h"

#include <string>

#include "ops/broadcast.h"
#include "ops/cpu/norm.h"
#include "ops/elementwise.h"
#include "ops/op_util.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

// An optional parameter vector of `n` values as a [n] view (undefined when absent). `any_shape_of_n`: any
// shape holding n values with every dimension after the first equal to 1 ([C, 1, 1]); otherwise exactly [n].
Tensor parameter(std::string_view op, std::string_view name, const Tensor& p, const Tensor& x, std::int64_t n,
                 bool any_shape_of_n) {
  if (!p.defined()) return p;
  check_dtype(op, name, p, kFloatActivations);
  bool ok = p.rank() >= 1 && p.size(0) == n && (any_shape_of_n || p.rank() == 1);
  for (int d = 1; ok && d < p.rank(); ++d) ok = p.size(d) == 1;
  if (!ok)
    throw ShapeError(std::string(op) + ": " + describe({{"x", &x}, {name, &p}}) + ": " + std::string(name) +
                     " must hold " + std::to_string(n) + " values, shape [" + std::to_string(n) +
                     (any_shape_of_n ? ", 1, ...]" : "]"));
  return p.reshape({n});
}

// A [n] parameter as contiguous f32 for the CPU kernels (undefined when absent).
Tensor f32_parameter(const Tensor& p) {
  return p.defined() ? to_f32_contiguous(p) : p;
}

const float* ptr(const Tensor& t) {
  return t.defined() ? t.data_as<float>() : nullptr;
}

void check_x(std::string_view op, const Tensor& x, int min_rank) {
  check_defined(op, "x", x);
  check_dtype(op, "x", x, kFloatActivations);
  if (x.rank() < min_rank)
    throw ShapeError(std::string(op) + ": x must have rank >= " + std::to_string(min_rank) + ", got " +
                     x.str());
}

void check_eps(std::string_view op, const Tensor& x, double eps) {
  if (!(eps >= 0))
    throw ArgumentError(std::string(op) + ": " + x.str() + ": eps " + std::to_string(eps) + " < 0");
}

// Runs a last-dimension row kernel over x's rows and returns the result in x's dtype.
Tensor map_last_dim(const Tensor& x, const cpu::RowFn& fn) {
  auto [result, out] = new_output(x.shape(), x.dtype(), x.device());
  const cpu::RowOperand in = broadcast_operand(x, x.shape());
  cpu::map_rows(x.shape(), {&in, 1}, out, true, fn);
  return result;
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  constexpr const char* kOp = "layer_norm";
  check_x(kOp, x, 1);
  check_eps(kOp, x, eps);
  const std::int64_t d = x.size(-1);
  const Tensor wd = parameter(kOp, "weight", weight, x, d, false),
               bd = parameter(kOp, "bias", bias, x, d, false);
  const auto e = static_cast<float>(eps);
  if (DeviceOps* ops = device_ops_for(op_device(kOp, {{"x", &x}, {"weight", &weight}, {"bias", &bias}})))
    return ops->layer_norm(x, wd, bd, e);
  const Tensor w = f32_parameter(wd), b = f32_parameter(bd);
  return map_last_dim(x, [&](const float* const* in, float* out, std::int64_t n) {
    cpu::layer_norm_row(in[0], ptr(w), ptr(b), e, out, n);
  });
}

Tensor layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale, double eps) {
  constexpr const char* kOp = "layer_norm_modulate";
  check_x(kOp, x, 1);
  check_eps(kOp, x, eps);
  check_defined(kOp, "shift", shift);
  check_defined(kOp, "scale", scale);
  if (DeviceOps* ops = device_ops_for(op_device(kOp, {{"x", &x}, {"shift", &shift}, {"scale", &scale}})))
    if (Tensor fused = ops->layer_norm_modulate(x, shift, scale, static_cast<float>(eps)); fused.defined())
      return fused;
  return modulate(layer_norm(x, Tensor(), Tensor(), eps), shift, scale);
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  constexpr const char* kOp = "rms_norm";
  check_x(kOp, x, 1);
  check_eps(kOp, x, eps);
  const Tensor wd = parameter(kOp, "weight", weight, x, x.size(-1), false);
  const auto e = static_cast<float>(eps);
  if (DeviceOps* ops = device_ops_for(op_device(kOp, {{"x", &x}, {"weight", &weight}})))
    return ops->rms_norm(x, wd, e);
  const Tensor w = f32_parameter(wd);
  return map_last_dim(x, [&](const float* const* in, float* out, std::int64_t n) {
    cpu::rms_norm_row(in[0], ptr(w), e, out, n);
  });
}

Tensor channel_rms_norm(const Tensor& x, const Tensor& gamma, const Tensor& bias, double eps) {
  constexpr const char* kOp = "channel_rms_norm";
  check_x(kOp, x, 2);
  check_eps(kOp, x, eps);
  if (!gamma.defined()) throw ArgumentError(std::string(kOp) + ": gamma is undefined");
  const std::int64_t batch = x.size(0), channels = x.size(1);
  const std::int64_t spatial = batch * channels == 0 ? 0 : x.numel() / (batch * channels);
  const Tensor gd = parameter(kOp, "gamma", gamma, x, channels, true);
  const Tensor bd = parameter(kOp, "bias", bias, x, channels, true);
  const Device device = op_device(kOp, {{"x", &x}, {"gamma", &gamma}, {"bias", &bias}});
  if (DeviceOps* ops = device_ops_for(device))
    return ops->channel_rms_norm(x, gd, bd, static_cast<float>(eps));
  const Tensor g = f32_parameter(gd), b = f32_parameter(bd);
  const Tensor xf = to_f32_contiguous(x);
  Tensor y = Tensor::empty(x.shape(), DType::f32);
  if (y.numel() > 0)
    cpu::channel_rms_norm(xf.data_as<float>(), batch, channels, spatial, ptr(g), ptr(b),
                          static_cast<float>(eps), y.data_as<float>());
  return place_result(f32_to_dtype(y, x.dtype()), device);
}

}  // namespace vramkit::ops
