#include "models/qwen_image/vae_tiling.h"

#include <algorithm>
#include <string>

#include "models/activation_meter.h"
#include "ops/device_scratch.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

// Walks a forward pass step by step, as vae_blocks.cpp runs it, and records the largest sum of live bytes.
// `held` are the tensors the enclosing code keeps alive across the step (a block's input, the shortcut).
class WorkspaceMeter {
 public:
  WorkspaceMeter(std::int64_t batch, DType dtype, OpKernels kernels)
      : batch_(batch),
        dtype_(dtype),
        element_(dtype_size(dtype)),
        f32_(dtype == DType::f32),
        kernels_(kernels) {}

  std::uint64_t peak() const { return peak_; }
  // An activation of `channels` x `pixels` in the computation dtype, and in f32.
  std::uint64_t act(std::int64_t channels, std::int64_t pixels) const {
    return u(batch_ * channels * pixels) * element_;
  }
  std::uint64_t act32(std::int64_t channels, std::int64_t pixels) const {
    return u(batch_ * channels * pixels) * 4;
  }

  void at(std::uint64_t bytes) { peak_ = std::max(peak_, bytes); }

  // The scratch of ops::conv2d from cin channels at `in_pixels` to cout at out_h x out_w with a k x k kernel.
  // CPU: its f32 input and output (unless activations already are f32), its f32 weight, its im2col band
  // (none for a plain 1x1). Device (CudaDeviceOps::conv2d): the contiguous weight in the activation dtype
  // (the causal convolutions' last temporal tap is a strided view) and the bias, the GEMM's library
  // workspace, the unfolded input of a batch element or as many pixels of it as ops::kDeviceScratchBytes
  // holds (none for a plain 1x1).
  std::uint64_t conv_scratch(std::int64_t cin, std::int64_t cout, std::int64_t in_pixels, std::int64_t out_h,
                             std::int64_t out_w, std::int64_t k, bool plain) const {
    const std::int64_t rows = cin * k * k;
    if (kernels_.device) {
      const std::uint64_t unfolded =
          plain ? 0 : std::min<std::uint64_t>(u(rows * out_h * out_w) * element_, ops::kDeviceScratchBytes);
      return u(cout * rows + cout) * element_ + ops::kLibraryWorkspaceBytes + unfolded;
    }
    std::uint64_t cpu = u(cout * rows) * 4;
    if (!f32_) cpu += act32(cin, in_pixels) + act32(cout, out_h * out_w);
    if (!plain) {
      // The CPU kernel's band bound (cpu/conv.cpp).
      constexpr std::int64_t kColsBudgetFloats = std::int64_t{2} << 20;
      const std::int64_t band = std::clamp<std::int64_t>(kColsBudgetFloats / (rows * out_w), 1, out_h);
      cpu += u(rows * band * out_w) * 4;
    }
    return cpu;
  }
  // A convolution that keeps the spatial size: held + input + output + scratch.
  void conv(std::uint64_t held, std::int64_t cin, std::int64_t cout, std::int64_t h, std::int64_t w,
            std::int64_t k) {
    at(held + act(cin, h * w) + act(cout, h * w) + conv_scratch(cin, cout, h * w, h, w, k, k == 1));
  }

  // vae::residual_block on x (in channels, kept alive by the caller) -> out channels.
  void residual_block(std::int64_t in, std::int64_t out, std::int64_t h, std::int64_t w) {
    const std::int64_t p = h * w;
    const std::uint64_t x = act(in, p);
    if (in != out) conv(0, in, out, h, w, 1);  // the shortcut: x is its input
    const std::uint64_t held = x + (in != out ? act(out, p) : 0);
    at(held + 2 * act(in, p));      // norm1 -> silu
    conv(held, in, out, h, w, 3);   // conv1
    at(held + 2 * act(out, p));     // norm2 -> silu
    conv(held, out, out, h, w, 3);  // conv2
    at(held + 2 * act(out, p));     // the sum
  }
  // vae::attention_block on x [C, h x w].
  void attention_block(std::int64_t c, std::int64_t h, std::int64_t w) {
    const std::int64_t p = h * w;
    const std::uint64_t x = act(c, p);
    at(2 * x);                   // norm
    conv(x, c, 3 * c, h, w, 1);  // to_qkv (its input: the normed x)
    const std::uint64_t qkv = act(3 * c, p);
    // attention over strided views of qkv. CPU: f32 q/k/v, f32 and rounded output, a score block. Device:
    // one 384-wide head takes the GEMM path (ActivationMeter::attention).
    at(x + qkv +
       (kernels_.device
            ? ActivationMeter(dtype_, kernels_).attention(batch_, p, p, c, c, c, false)
            : act32(3 * c, p) + act32(c, p) + act(c, p) + ActivationMeter::cpu_score_block(p, p)));
    at(x + 2 * act(c, p));   // attention output -> [B, C, h, w]
    conv(x, c, c, h, w, 1);  // proj
    at(x + 2 * act(c, p));   // + identity
  }
  void mid_block(std::int64_t c, std::int64_t h, std::int64_t w) {
    residual_block(c, c, h, w);
    attention_block(c, h, w);
    residual_block(c, c, h, w);
  }
  // vae::upsample: x [C, h x w] kept, x2 [C, 2h x 2w], conv -> C/2.
  void upsample(std::int64_t c, std::int64_t h, std::int64_t w) {
    const std::int64_t p2 = 4 * h * w;
    at(act(c, h * w) + act(c, p2) + act(c / 2, p2) + conv_scratch(c, c / 2, p2, 2 * h, 2 * w, 3, false));
  }
  // vae::downsample: x [C, h x w] -> [C, h/2 x w/2] (stride 2).
  void downsample(std::int64_t c, std::int64_t h, std::int64_t w) {
    const std::int64_t ho = h / 2, wo = w / 2;
    at(act(c, h * w) + act(c, ho * wo) + conv_scratch(c, c, h * w, ho, wo, 3, false));
  }
  // norm -> silu -> conv k=3 to cout, with x alive.
  void head(std::int64_t c, std::int64_t cout, std::int64_t h, std::int64_t w) {
    const std::uint64_t x = act(c, h * w);
    at(x + 2 * act(c, h * w));
    conv(x, c, cout, h, w, 3);
  }

 private:
  static std::uint64_t u(std::int64_t v) { return static_cast<std::uint64_t>(v); }
  std::int64_t batch_;
  DType dtype_;
  std::uint64_t element_;
  bool f32_;
  OpKernels kernels_;
  std::uint64_t peak_ = 0;
};

VaeTiling checked(const VaeTiling& t) {
  if (t.tile < 2 || t.stride < 1 || t.stride > t.tile)
    throw ArgumentError("VAE tiling: tile " + std::to_string(t.tile) + ", stride " +
                        std::to_string(t.stride) +
                        " (latent pixels): the tile must be >= 2 and the stride in [1, tile]");
  return t;
}

std::vector<std::int64_t> starts(std::int64_t size, std::int64_t stride) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < size; i += stride) out.push_back(i);
  return out;
}

// The blend weights of the tile before (a) and the current tile (b) at offset i of an overlap of e pixels,
// computed in double and rounded to f32 as the reference's Python scalars are.
struct Weights {
  float a, b;
};
Weights weights(std::int64_t i, std::int64_t e) {
  const double t = static_cast<double>(i) / static_cast<double>(e);
  return {static_cast<float>(1.0 - t), static_cast<float>(t)};
}

}  // namespace

std::uint64_t vae_decode_workspace_bytes(const VaeConfig& c, std::int64_t batch, std::int64_t height,
                                         std::int64_t width, DType dtype, OpKernels kernels) {
  WorkspaceMeter m(batch, dtype, kernels);
  const std::vector<std::int64_t> dims = c.decoder_dims();
  std::int64_t h = height, w = width;
  m.at(m.act32(c.z_dim, h * w) + m.act(c.z_dim, h * w));  // the f32 input and its cast
  m.conv(0, c.z_dim, c.z_dim, h, w, 1);                   // post_quant_conv
  m.conv(0, c.z_dim, dims[0], h, w, 3);                   // conv_in
  m.mid_block(dims[0], h, w);
  const std::size_t stages = c.dim_mult.size();
  for (std::size_t i = 0; i < stages; ++i) {
    std::int64_t in = i > 0 ? dims[i] / 2 : dims[i];
    for (std::int64_t r = 0; r <= c.num_res_blocks; ++r, in = dims[i + 1])
      m.residual_block(in, dims[i + 1], h, w);
    if (i + 1 == stages) continue;
    m.upsample(dims[i + 1], h, w);
    h *= 2, w *= 2;
  }
  m.head(dims.back(), c.input_channels, h, w);
  // clamp, then the f32 output
  m.at(2 * m.act(c.input_channels, h * w) + m.act32(c.input_channels, h * w));
  return m.peak();
}

std::uint64_t vae_encode_workspace_bytes(const VaeConfig& c, std::int64_t batch, std::int64_t height,
                                         std::int64_t width, DType dtype, OpKernels kernels) {
  WorkspaceMeter m(batch, dtype, kernels);
  const std::vector<std::int64_t> dims = c.encoder_dims();
  std::int64_t h = height, w = width;
  m.at(m.act32(c.input_channels, h * w) + m.act(c.input_channels, h * w));
  m.conv(0, c.input_channels, dims[0], h, w, 3);
  const std::size_t stages = c.dim_mult.size();
  for (std::size_t i = 0; i < stages; ++i) {
    std::int64_t in = dims[i];
    for (std::int64_t r = 0; r < c.num_res_blocks; ++r, in = dims[i + 1])
      m.residual_block(in, dims[i + 1], h, w);
    if (i + 1 == stages) continue;
    m.downsample(dims[i + 1], h, w);
    h /= 2, w /= 2;
  }
  m.mid_block(dims.back(), h, w);
  m.head(dims.back(), 2 * c.z_dim, h, w);
  m.conv(0, 2 * c.z_dim, 2 * c.z_dim, h, w, 1);  // quant_conv
  return m.peak();
}

VaeDecodePlan plan_vae_decode(const VaeConfig& config, std::int64_t batch, std::int64_t height,
                              std::int64_t width, DType dtype, OpKernels kernels,
                              std::optional<std::uint64_t> available_bytes, const VaeDecodeOptions& options) {
  VaeDecodePlan plan;
  plan.available_bytes = available_bytes;
  plan.untiled_workspace_bytes = vae_decode_workspace_bytes(config, batch, height, width, dtype, kernels);
  const bool fits = !available_bytes || plan.untiled_workspace_bytes <= *available_bytes;
  if (options.tiling == VaeTilingMode::never || (options.tiling == VaeTilingMode::automatic && fits)) {
    if (options.tile) checked(*options.tile);
    plan.workspace_bytes = plan.untiled_workspace_bytes;
    return plan;
  }
  const auto tile_workspace = [&](const VaeTiling& t) {
    return vae_decode_workspace_bytes(config, batch, std::min(t.tile, height), std::min(t.tile, width), dtype,
                                      kernels);
  };
  if (options.tile) {
    plan.tiling = checked(*options.tile);
  } else {
    // Diffusers' tile first, then smaller ones with the same 3:4 overlap ratio; the smallest when none fits.
    for (std::int64_t tile : {32, 24, 16, 12, 8}) {
      plan.tiling = {tile, tile * 3 / 4};
      if (!available_bytes || tile_workspace(plan.tiling) <= *available_bytes) break;
    }
  }
  plan.tiled = true;
  plan.workspace_bytes = tile_workspace(plan.tiling);
  plan.rows = starts(height, plan.tiling.stride);
  plan.columns = starts(width, plan.tiling.stride);
  return plan;
}

Tensor blend_decoded_tiles(std::vector<std::vector<Tensor>>& tiles, const VaeDecodePlan& plan,
                           std::int64_t factor, std::int64_t height, std::int64_t width) {
  const std::int64_t overlap = (plan.tiling.tile - plan.tiling.stride) * factor;  // sample pixels
  const std::int64_t keep = plan.tiling.stride * factor;
  const Tensor& first = tiles.at(0).at(0);
  const std::int64_t batch = first.size(0), channels = first.size(1);
  const std::int64_t out_h = height * factor, out_w = width * factor;
  Tensor out = Tensor::empty({batch, channels, out_h, out_w}, DType::f32);
  float* o = out.data_as<float>();
  for (std::size_t r = 0; r < tiles.size(); ++r) {
    for (std::size_t c = 0; c < tiles[r].size(); ++c) {
      Tensor& b = tiles[r][c];
      const std::int64_t bh = b.size(2), bw = b.size(3);
      float* bd = b.data_as<float>();
      // blend_v with the tile above, then blend_h with the tile to the left (both blended already).
      if (r > 0) {
        const Tensor& a = tiles[r - 1][c];
        const std::int64_t ah = a.size(2), e = std::min({ah, bh, overlap});
        const float* ad = a.data_as<float>();
        for (std::int64_t p = 0; p < batch * channels; ++p)
          for (std::int64_t y = 0; y < e; ++y) {
            const Weights wt = weights(y, e);
            const float* arow = ad + (p * ah + ah - e + y) * bw;
            float* brow = bd + (p * bh + y) * bw;
            for (std::int64_t x = 0; x < bw; ++x) brow[x] = arow[x] * wt.a + brow[x] * wt.b;
          }
      }
      if (c > 0) {
        const Tensor& a = tiles[r][c - 1];
        const std::int64_t aw = a.size(3), e = std::min({aw, bw, overlap});
        const float* ad = a.data_as<float>();
        for (std::int64_t p = 0; p < batch * channels; ++p)
          for (std::int64_t y = 0; y < bh; ++y) {
            const float* arow = ad + (p * bh + y) * aw;
            float* brow = bd + (p * bh + y) * bw;
            for (std::int64_t x = 0; x < e; ++x) {
              const Weights wt = weights(x, e);
              brow[x] = arow[aw - e + x] * wt.a + brow[x] * wt.b;
            }
          }
      }
      // The tile's first keep x keep pixels (fewer at the border) make the image.
      const std::int64_t y0 = plan.rows[r] * factor, x0 = plan.columns[c] * factor;
      const std::int64_t rows = std::min({keep, bh, out_h - y0}), cols = std::min({keep, bw, out_w - x0});
      for (std::int64_t p = 0; p < batch * channels; ++p)
        for (std::int64_t y = 0; y < rows; ++y)
          std::copy_n(bd + (p * bh + y) * bw, cols, o + (p * out_h + y0 + y) * out_w + x0);
    }
  }
  return out;
}

}  // namespace vramkit::qwen_image
