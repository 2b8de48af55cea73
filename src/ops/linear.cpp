#include "ops/linear.h"

#include <string>

#include "ops/cpu/linear.h"
#include "ops/op_util.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

constexpr const char* kLinear = "linear";

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& scale) {
  check_defined(kLinear, "x", x);
  check_defined(kLinear, "weight", weight);
  const Device device =
      op_device(kLinear, {{"x", &x}, {"weight", &weight}, {"bias", &bias}, {"scale", &scale}});
  check_dtype(kLinear, "x", x, kFloatActivations);
  check_dtype(kLinear, "weight", weight,
              {DType::f32, DType::bf16, DType::f16, DType::f8_e4m3fn, DType::f8_e5m2});
  check_rank(kLinear, "weight", weight, 2);
  if (x.rank() < 1) throw ShapeError(std::string(kLinear) + ": x must have rank >= 1, got " + x.str());
  const std::int64_t in = x.size(-1), out = weight.size(0);
  if (weight.size(1) != in)
    throw ShapeError(std::string(kLinear) + ": " + describe({{"x", &x}, {"weight", &weight}}) +
                     ": in_features differ (" + std::to_string(in) + " vs " + std::to_string(weight.size(1)) +
                     ")");
  if (bias.defined()) {
    check_dtype(kLinear, "bias", bias, kFloatActivations);
    check_channel_vector(kLinear, "bias", bias, x, weight);
  }
  if (scale.defined()) {
    check_dtype(kLinear, "scale", scale, {DType::f32});
    check_channel_vector(kLinear, "scale", scale, x, weight);
  }
  if (DeviceOps* d = device_ops_for(device)) return d->linear(x, weight, bias, scale);
  const Tensor bias_f32 = bias.defined() ? to_f32_contiguous(bias) : Tensor();
  const Tensor scale_f32 = scale.defined() ? to_f32_contiguous(scale) : Tensor();

  std::int64_t rows = 1;
  for (int d = 0; d + 1 < x.rank(); ++d) rows *= x.size(d);
  const Tensor x2 = to_f32_contiguous(x);
  // The kernel reads weight rows with unit inner stride and a row pitch of at least `in`; other layouts are
  // compacted first.
  const bool blas_layout = (weight.stride(1) == 1 || in <= 1) && (weight.stride(0) >= in || out <= 1);
  const Tensor w = blas_layout ? weight : weight.contiguous();
  Shape out_shape = x.shape();
  out_shape[x.rank() - 1] = out;
  Tensor y = Tensor::empty(out_shape, DType::f32);
  const cpu::LinearWeight lw{w.data(), w.dtype(), out, in, out <= 1 ? in : w.stride(0)};
  cpu::linear_f32(x2.data_as<float>(), rows, lw, scale_f32.defined() ? scale_f32.data_as<float>() : nullptr,
                  bias_f32.defined() ? bias_f32.data_as<float>() : nullptr, y.data_as<float>());
  return place_result(f32_to_dtype(y, x.dtype()), device);
}

}  // namespace vramkit::ops
