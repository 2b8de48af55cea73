// conv2d and causal_conv3d: validation, weight preparation and dispatch (contract in conv.h, kernel in
// cpu/conv.cpp).
#include "ops/conv.h"

#include <algorithm>
#include <string>
#include <vector>

#include "ops/cpu/conv.h"
#include "ops/elementwise.h"
#include "ops/layout.h"
#include "ops/op_util.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

constexpr std::initializer_list<DType> kWeightDTypes = {DType::f32, DType::bf16, DType::f16, DType::f8_e4m3fn,
                                                        DType::f8_e5m2};

std::string dims(std::span<const std::int64_t> v) {
  std::string s = "(";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + ")";
}

// Checks the arguments and returns their device.
Device check_inputs(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias, int rank) {
  check_defined(op, "x", x);
  check_defined(op, "weight", weight);
  check_dtype(op, "x", x, kFloatActivations);
  check_dtype(op, "weight", weight, kWeightDTypes);
  check_rank(op, "x", x, rank);
  check_rank(op, "weight", weight, rank);
  const std::string what =
      std::string(op) + ": " + describe({{"x", &x}, {"weight", &weight}, {"bias", &bias}});
  if (weight.size(1) != x.size(1)) throw ShapeError(what + ": input channels differ");
  if (bias.defined()) {
    check_dtype(op, "bias", bias, kWeightDTypes);
    if (bias.rank() != 1 || bias.size(0) != weight.size(0)) throw ShapeError(what + ": bias must be [Cout]");
  }
  return op_device(op, {{"x", &x}, {"weight", &weight}, {"bias", &bias}});
}

// f32 [B, frames, Cout, pixels] output pre-loaded with the bias (or zeros).
Tensor output_with_bias(const Tensor& bias, const Shape& shape) {
  Tensor out = Tensor::empty(shape, DType::f32);
  const std::int64_t cout = shape[2], pixels = shape[3];
  const std::int64_t groups = shape[0] * shape[1];
  float* o = out.data_as<float>();
  const Tensor b = bias.defined() ? to_f32_contiguous(bias) : Tensor::zeros({cout}, DType::f32);
  const float* bv = b.data_as<float>();
  for (std::int64_t g = 0; g < groups; ++g)
    for (std::int64_t c = 0; c < cout; ++c) std::fill_n(o + (g * cout + c) * pixels, pixels, bv[c]);
  return out;
}

std::int64_t out_size(std::int64_t in, std::int64_t pad, std::int64_t k, std::int64_t stride) {
  const std::int64_t span = in + pad - k;
  return span < 0 ? 0 : span / stride + 1;
}

// causal_conv3d on a device that has only conv2d: each output frame is the sum, over the temporal taps that
// meet a real frame of [cache; x], of a conv2d of that frame with the tap's weights (the bias added once).
// The taps that meet padding frames contribute nothing, as in the CPU kernel.
Tensor causal_conv3d_by_frames(DeviceOps& d, const Tensor& x, const Tensor& weight, const Tensor& bias,
                               const Tensor& cache, const CausalConv3dParams& p, std::int64_t frames_out,
                               std::int64_t front_pad, const std::string& what) {
  const std::int64_t tc = cache.defined() ? cache.size(2) : 0, kt = weight.size(2);
  const std::int64_t ph = p.padding[1], pw = p.padding[2];
  const Conv2dParams frame_params{{p.stride[1], p.stride[2]}, {ph, ph, pw, pw}};
  std::vector<Tensor> frames;
  for (std::int64_t o = 0; o < frames_out; ++o) {
    Tensor sum;
    for (std::int64_t k = 0; k < kt; ++k) {
      const std::int64_t joined = o * p.stride[0] + k - front_pad;  // index into [cache; x]
      if (joined < 0) continue;
      const Tensor frame = joined < tc ? cache.select(2, joined) : x.select(2, joined - tc);
      const Tensor y = d.conv2d(frame, weight.select(2, k), sum.defined() ? Tensor() : bias, frame_params);
      sum = sum.defined() ? add(sum, y) : y;
    }
    if (!sum.defined())
      throw ArgumentError(what + ": output frame " + std::to_string(o) +
                          " sees only padding frames, which this device does not compute");
    frames.push_back(sum.unsqueeze(2));
  }
  return concat(frames, 2);
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  constexpr const char* kOp = "conv2d";
  const Device device = check_inputs(kOp, x, weight, bias, 4);
  const auto& [sh, sw] = p.stride;
  const auto& [top, bottom, left, right] = p.padding;
  const std::string what = std::string(kOp) + ": " + describe({{"x", &x}, {"weight", &weight}}) +
                           ", stride " + dims(p.stride) + ", padding " + dims(p.padding);
  if (sh < 1 || sw < 1 || std::min({top, bottom, left, right}) < 0)
    throw ArgumentError(what + ": strides must be >= 1 and padding >= 0");
  const std::int64_t b = x.size(0), cout = weight.size(0);
  cpu::ConvGeometry g{x.size(1),
                      cout,
                      x.size(2),
                      x.size(3),
                      weight.size(2),
                      weight.size(3),
                      sh,
                      sw,
                      top,
                      left,
                      out_size(x.size(2), top + bottom, weight.size(2), sh),
                      out_size(x.size(3), left + right, weight.size(3), sw)};
  if (g.out_h == 0 || g.out_w == 0) throw ShapeError(what + ": the kernel is larger than the padded input");
  if (DeviceOps* d = device_ops_for(device)) return d->conv2d(x, weight, bias, p);
  const Tensor x32 = to_f32_contiguous(x);
  const Tensor w32 = to_f32_contiguous(weight);
  Tensor out = output_with_bias(bias, {b, 1, cout, g.out_h * g.out_w});
  const std::int64_t in_stride = g.in_channels * g.in_h * g.in_w, out_stride = cout * g.out_h * g.out_w;
  for (std::int64_t i = 0; i < b; ++i)
    cpu::conv2d_accumulate_f32(x32.data_as<float>() + i * in_stride, w32.data_as<float>(),
                               out.data_as<float>() + i * out_stride, g);
  return place_result(f32_to_dtype(out.reshape({b, cout, g.out_h, g.out_w}), x.dtype()), device);
}

Tensor causal_conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias, const CausalConv3dParams& p,
                     const Tensor& cache) {
  constexpr const char* kOp = "causal_conv3d";
  const Device device = check_inputs(kOp, x, weight, bias, 5);
  const auto& [st, sh, sw] = p.stride;
  const auto& [pt, ph, pw] = p.padding;
  const std::string what = std::string(kOp) + ": " +
                           describe({{"x", &x}, {"weight", &weight}, {"cache", &cache}}) + ", stride " +
                           dims(p.stride) + ", padding " + dims(p.padding);
  if (std::min({st, sh, sw}) < 1 || std::min({pt, ph, pw}) < 0)
    throw ArgumentError(what + ": strides must be >= 1 and padding >= 0");
  const std::int64_t b = x.size(0), cin = x.size(1), t = x.size(2), cout = weight.size(0),
                     kt = weight.size(2);
  // The reference only uses the cache when it pads in time.
  const bool use_cache = cache.defined() && pt > 0;
  std::int64_t tc = 0;
  if (use_cache) {
    check_dtype(kOp, "cache", cache, kFloatActivations);
    op_device(kOp, {{"x", &x}, {"cache", &cache}});
    if (cache.rank() != 5 || cache.size(0) != b || cache.size(1) != cin || cache.size(3) != x.size(3) ||
        cache.size(4) != x.size(4))
      throw ShapeError(what + ": cache must be [B, Cin, Tc, H, W] like x");
    tc = cache.size(2);
  }
  const std::int64_t front_pad = 2 * pt - tc;  // zero frames before [cache; x]; negative crops the cache
  const std::int64_t to = out_size(t, 2 * pt, kt, st);
  cpu::ConvGeometry g{cin,
                      cout,
                      x.size(3),
                      x.size(4),
                      weight.size(3),
                      weight.size(4),
                      sh,
                      sw,
                      ph,
                      pw,
                      out_size(x.size(3), 2 * ph, weight.size(3), sh),
                      out_size(x.size(4), 2 * pw, weight.size(4), sw)};
  if (to == 0 || g.out_h == 0 || g.out_w == 0)
    throw ShapeError(what + ": the kernel is larger than the padded input");
  if (DeviceOps* d = device_ops_for(device))
    return causal_conv3d_by_frames(*d, x, weight, bias, use_cache ? cache : Tensor(), p, to, front_pad, what);

  // Frame-major copies so that each frame is a contiguous [Cin, H, W] image, and per-tap weights [Cout,
  // Cin·kh·kw].
  const Tensor xf = contiguous(to_f32_contiguous(x).permute({0, 2, 1, 3, 4}));
  const Tensor cf = use_cache ? contiguous(to_f32_contiguous(cache).permute({0, 2, 1, 3, 4})) : Tensor();
  const Tensor wt = contiguous(to_f32_contiguous(weight).permute({2, 0, 1, 3, 4}));
  const std::int64_t frame = cin * g.in_h * g.in_w, tap = cout * cin * g.k_h * g.k_w,
                     pixels = g.out_h * g.out_w;
  Tensor out = output_with_bias(bias, {b, to, cout, pixels});
  for (std::int64_t i = 0; i < b; ++i)
    for (std::int64_t o = 0; o < to; ++o)
      for (std::int64_t k = 0; k < kt; ++k) {
        const std::int64_t joined = o * st + k - front_pad;  // index into [cache; x]
        if (joined < 0) continue;                            // a zero frame contributes nothing
        const float* src = joined < tc ? cf.data_as<float>() + (i * tc + joined) * frame
                                       : xf.data_as<float>() + (i * t + joined - tc) * frame;
        cpu::conv2d_accumulate_f32(src, wt.data_as<float>() + k * tap,
                                   out.data_as<float>() + (i * to + o) * cout * pixels, g);
      }
  const Tensor result = contiguous(out.reshape({b, to, cout, g.out_h, g.out_w}).permute({0, 2, 1, 3, 4}));
  return place_result(f32_to_dtype(result, x.dtype()), device);
}

}  // namespace vramkit::ops
