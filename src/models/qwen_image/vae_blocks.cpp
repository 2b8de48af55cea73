#include "models/qwen_image/vae_blocks.h"

#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/layout.h"
#include "ops/norm.h"
#include "ops/upsample.h"

namespace vramkit::qwen_image::vae {

Tensor causal_conv(UnitCursor& units, const std::string& name, const Tensor& x) {
  const UnitLease lease = units.next(name);
  const Tensor& weight = lease.get(name + ".weight");  // [Cout, Cin, kt, k, k]
  // The last temporal tap is the only one that meets the frame (the others see the causal zero padding).
  const Tensor tap = weight.select(2, weight.size(2) - 1);
  return ops::conv2d(x, tap, lease.get(name + ".bias"), ops::Conv2dParams::symmetric(1, (weight.size(3) - 1) / 2));
}

Tensor rms_norm(UnitCursor& units, const std::string& name, const Tensor& x) {
  const UnitLease lease = units.next(name);
  return ops::channel_rms_norm(x, lease.get(name + ".gamma"));
}

Tensor residual_block(UnitCursor& units, const std::string& name, const Tensor& x, bool has_shortcut) {
  // Each intermediate replaces the one before, so that at most two of them are alive besides x and the
  // shortcut (vae_tiling.cpp's workspace estimate counts on it).
  const Tensor shortcut = has_shortcut ? causal_conv(units, name + ".conv_shortcut", x) : x;
  Tensor y = rms_norm(units, name + ".norm1", x);
  y = ops::silu(y);
  y = causal_conv(units, name + ".conv1", y);
  y = rms_norm(units, name + ".norm2", y);
  y = ops::silu(y);  // Dropout is the identity at inference.
  y = causal_conv(units, name + ".conv2", y);
  return ops::add(y, shortcut);
}

Tensor attention_block(UnitCursor& units, const std::string& name, const Tensor& x) {
  const std::int64_t batch = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  Tensor qkv = rms_norm(units, name + ".norm", x);
  {
    const UnitLease lease = units.next(name + ".to_qkv");
    qkv = ops::conv2d(qkv, lease.get(name + ".to_qkv.weight"), lease.get(name + ".to_qkv.bias"));
  }
  // Channels [0, C) are the queries, [C, 2C) the keys, [2C, 3C) the values; one head of C over the pixels,
  // laid out [B, H·W, 1, C] for ops::attention (views, no copy).
  const auto heads = [&](std::int64_t part) {
    return qkv.slice(1, part * channels, (part + 1) * channels)
        .reshape({batch, channels, height * width})
        .permute({0, 2, 1})
        .unsqueeze(2);
  };
  Tensor y = ops::attention(heads(0), heads(1), heads(2));  // [B, H·W, 1, C]
  qkv = Tensor();
  y = ops::permute_contiguous(y.squeeze(2), {0, 2, 1}).reshape({batch, channels, height, width});
  const UnitLease lease = units.next(name + ".proj");
  y = ops::conv2d(y, lease.get(name + ".proj.weight"), lease.get(name + ".proj.bias"));
  return ops::add(y, x);
}

Tensor mid_block(UnitCursor& units, const std::string& name, const Tensor& x) {
  Tensor y = residual_block(units, name + ".resnets.0", x, false);
  y = attention_block(units, name + ".attentions.0", y);
  return residual_block(units, name + ".resnets.1", y, false);
}

Tensor upsample(UnitCursor& units, const std::string& name, const Tensor& x) {
  const std::string conv = name + ".resample.1";
  const UnitLease lease = units.next(conv);
  return ops::conv2d(ops::upsample_nearest_2x(x), lease.get(conv + ".weight"), lease.get(conv + ".bias"),
                     ops::Conv2dParams::symmetric(1, 1));
}

Tensor downsample(UnitCursor& units, const std::string& name, const Tensor& x) {
  const std::string conv = name + ".resample.1";
  const UnitLease lease = units.next(conv);
  ops::Conv2dParams params;
  params.stride = {2, 2};
  params.padding = {0, 1, 0, 1};  // nn.ZeroPad2d((0, 1, 0, 1)): right and bottom
  return ops::conv2d(x, lease.get(conv + ".weight"), lease.get(conv + ".bias"), params);
}

}  // namespace vramkit::qwen_image::vae
