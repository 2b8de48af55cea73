// RoPE tables and apply_rope: validation, position bookkeeping and dispatch (contract in rope.h, kernels in
// cpu/rope.cpp).
#include "ops/rope.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ops/cpu/rope.h"
#include "ops/op_util.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

// The reference precomputes QwenEmbedRope positions -4096..4095.
constexpr std::int64_t kQwenImageMaxPosition = 4096;

// ω_j = 1 / theta^(2j/dim) for j < dim/2, every step in f32 as the reference computes it.
void append_omegas(std::vector<float>& omega, std::int64_t dim, double theta) {
  for (std::int64_t j = 0; j < dim / 2; ++j) {
    const float exponent = static_cast<float>(2 * j) / static_cast<float>(dim);
    omega.push_back(1.0f / std::pow(static_cast<float>(theta), exponent));
  }
}

RopeTable build_table(RopeStyle style, const std::vector<std::int64_t>& positions, int axes,
                      const std::vector<int>& pair_axis, const std::vector<float>& omega,
                      const Shape& shape) {
  RopeTable t{style, Tensor::empty(shape, DType::f32), Tensor::empty(shape, DType::f32)};
  const auto pairs = static_cast<std::int64_t>(omega.size());
  cpu::rope_angles_f32(positions.data(), static_cast<std::int64_t>(positions.size()) / axes, axes,
                       pair_axis.data(), omega.data(), pairs, t.cos.data_as<float>(), t.sin.data_as<float>());
  return t;
}

}  // namespace

QwenImageRope qwen_image_rope(std::int64_t frames, std::int64_t height, std::int64_t width,
                              std::int64_t text_len, const QwenImageRopeConfig& config) {
  const auto& ax = config.axes_dim;
  const std::string args = "qwen_image_rope: frames " + std::to_string(frames) + ", height " +
                           std::to_string(height) + ", width " + std::to_string(width) + ", text_len " +
                           std::to_string(text_len);
  if (frames < 0 || height < 0 || width < 0 || text_len < 0) throw ArgumentError(args + ": negative size");
  for (std::int64_t d : ax)
    if (d <= 0 || d % 2 != 0) throw ArgumentError(args + ": every axis dim must be positive and even");
  const std::int64_t text_start =
      config.scale_rope ? std::max(height / 2, width / 2) : std::max(height, width);
  const std::int64_t lowest = config.scale_rope ? -((std::max(height, width) + 1) / 2) : 0;
  const std::int64_t highest =
      std::max<std::int64_t>({frames - 1, text_start + text_len - 1, config.scale_rope ? 0 : height - 1,
                              config.scale_rope ? 0 : width - 1});
  if (lowest < -kQwenImageMaxPosition || highest >= kQwenImageMaxPosition)
    throw ArgumentError(args + ": positions would leave the reference's range [-4096, 4095]");

  std::vector<float> omega;
  std::vector<int> pair_axis;
  for (int a = 0; a < 3; ++a) {
    append_omegas(omega, ax[static_cast<std::size_t>(a)], config.theta);
    pair_axis.resize(omega.size(), a);
  }
  const auto pairs = static_cast<std::int64_t>(omega.size());

  // Image tokens, row-major over (frame, row, col); centred rows/cols with scale_rope.
  const std::int64_t row_shift = config.scale_rope ? height - height / 2 : 0;
  const std::int64_t col_shift = config.scale_rope ? width - width / 2 : 0;
  std::vector<std::int64_t> image_pos;
  image_pos.reserve(static_cast<std::size_t>(frames * height * width * 3));
  for (std::int64_t f = 0; f < frames; ++f)
    for (std::int64_t r = 0; r < height; ++r)
      for (std::int64_t c = 0; c < width; ++c)
        image_pos.insert(image_pos.end(), {f, r - row_shift, c - col_shift});
  std::vector<std::int64_t> text_pos;
  for (std::int64_t i = 0; i < text_len; ++i) text_pos.insert(text_pos.end(), 3, text_start + i);

  return {
      build_table(RopeStyle::interleaved, image_pos, 3, pair_axis, omega, {frames * height * width, pairs}),
      build_table(RopeStyle::interleaved, text_pos, 3, pair_axis, omega, {text_len, pairs})};
}

RopeTable rope_1d(const Tensor& position_ids, std::int64_t head_dim, double theta) {
  constexpr const char* kOp = "rope_1d";
  check_defined(kOp, "position_ids", position_ids);
  check_dtype(kOp, "position_ids", position_ids, {DType::i32, DType::i64});
  if (position_ids.rank() != 1 && position_ids.rank() != 2)
    throw ShapeError(std::string(kOp) + ": position_ids " + position_ids.str() + " must be [L] or [B, L]");
  if (head_dim <= 0 || head_dim % 2 != 0 || !(theta > 0.0))
    throw ArgumentError(std::string(kOp) + ": head_dim " + std::to_string(head_dim) +
                        " must be positive and even, theta " + std::to_string(theta) + " positive");
  std::vector<float> omega;
  append_omegas(omega, head_dim, theta);
  const Tensor ids = position_ids.to(DType::i64);
  const std::int64_t* p = ids.data_as<std::int64_t>();
  const std::vector<std::int64_t> positions(p, p + ids.numel());
  Shape shape = position_ids.shape();
  shape.push_back(head_dim / 2);
  return build_table(RopeStyle::rotate_half, positions, 1, std::vector<int>(omega.size(), 0), omega, shape);
}

Tensor apply_rope(const Tensor& x, const RopeTable& table) {
  constexpr const char* kOp = "apply_rope";
  check_defined(kOp, "x", x);
  check_dtype(kOp, "x", x, kFloatActivations);
  check_rank(kOp, "x", x, 4);
  check_defined(kOp, "table.cos", table.cos);
  check_defined(kOp, "table.sin", table.sin);
  const Device device = op_device(kOp, {{"x", &x}, {"table.cos", &table.cos}, {"table.sin", &table.sin}});
  check_dtype(kOp, "table.cos", table.cos, {DType::f32});
  check_dtype(kOp, "table.sin", table.sin, {DType::f32});
  const Tensor& c = table.cos;
  const bool per_batch = c.rank() == 3;
  const std::string what = std::string(kOp) + ": " + describe({{"x", &x}, {"cos", &c}, {"sin", &table.sin}});
  if (!(c.shape() == table.sin.shape()) || (c.rank() != 2 && c.rank() != 3))
    throw ShapeError(what + ": bad table");
  if (x.size(3) % 2 != 0 || c.size(-1) * 2 != x.size(3))
    throw ShapeError(what + ": head_dim must be 2 x pairs");
  if (c.size(-2) != x.size(1)) throw ShapeError(what + ": table length differs from the sequence length");
  if (per_batch && c.size(0) != x.size(0)) throw ShapeError(what + ": table batch differs from x's");
  if (DeviceOps* d = device_ops_for(device)) return d->apply_rope(x, table);
  const Tensor x32 = to_f32_contiguous(x);
  const Tensor cos32 = c.contiguous();
  const Tensor sin32 = table.sin.contiguous();
  Tensor out = Tensor::empty(x.shape(), DType::f32);
  cpu::rope_f32(x32.data_as<float>(), out.data_as<float>(), x.size(0), x.size(1), x.size(2), x.size(3),
                cos32.data_as<float>(), sin32.data_as<float>(), per_batch,
                table.style == RopeStyle::interleaved);
  return place_result(f32_to_dtype(out, x.dtype()), device);
}

}  // namespace vramkit::ops
