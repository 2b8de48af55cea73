#include "ops/fp8_linear.h"

#include <string>

#include "ops/cpu/fp8_linear.h"
#include "ops/op_util.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

constexpr const char* kFp8Linear = "fp8_linear";

}  // namespace

Tensor fp8_linear(const Tensor& x, const Tensor& weight, const Tensor& weight_scale, const Tensor& bias) {
  check_defined(kFp8Linear, "x", x);
  check_defined(kFp8Linear, "weight", weight);
  const Device device = op_device(
      kFp8Linear, {{"x", &x}, {"weight", &weight}, {"weight_scale", &weight_scale}, {"bias", &bias}});
  check_dtype(kFp8Linear, "x", x, kFloatActivations);
  check_dtype(kFp8Linear, "weight", weight, {DType::f8_e4m3fn, DType::f8_e5m2});
  check_rank(kFp8Linear, "weight", weight, 2);
  if (x.rank() < 1) throw ShapeError(std::string(kFp8Linear) + ": x must have rank >= 1, got " + x.str());
  const std::int64_t in = x.size(-1), out = weight.size(0);
  if (weight.size(1) != in)
    throw ShapeError(std::string(kFp8Linear) + ": " + describe({{"x", &x}, {"weight", &weight}}) +
                     ": in_features differ (" + std::to_string(in) + " vs " + std::to_string(weight.size(1)) +
                     ")");
  if (weight_scale.defined()) {
    check_dtype(kFp8Linear, "weight_scale", weight_scale, {DType::f32});
    check_channel_vector(kFp8Linear, "weight_scale", weight_scale, x, weight);
  }
  if (bias.defined()) {
    check_dtype(kFp8Linear, "bias", bias, kFloatActivations);
    check_channel_vector(kFp8Linear, "bias", bias, x, weight);
  }
  if (DeviceOps* d = device_ops_for(device)) return d->fp8_linear(x, weight, weight_scale, bias);
  const Tensor bias_f32 = bias.defined() ? to_f32_contiguous(bias) : Tensor();
  const Tensor scale_f32 = weight_scale.defined() ? to_f32_contiguous(weight_scale) : Tensor();
  std::int64_t rows = 1;
  for (int d = 0; d + 1 < x.rank(); ++d) rows *= x.size(d);
  const Tensor x2 = x.contiguous();
  const Tensor w = weight.contiguous();
  Shape out_shape = x.shape();
  out_shape[x.rank() - 1] = out;
  Tensor y = Tensor::empty(out_shape, DType::f32);
  const cpu::LinearWeight lw{w.data(), w.dtype(), out, in, in};
  cpu::fp8_linear_f32(x2.data(), x2.dtype(), rows, lw,
                      scale_f32.defined() ? scale_f32.data_as<float>() : nullptr,
                      bias_f32.defined() ? bias_f32.data_as<float>() : nullptr, y.data_as<float>());
  return place_result(f32_to_dtype(y, x.dtype()), device);
}

}  // namespace vramkit::ops
