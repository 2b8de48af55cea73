// Tiled decoding of the Qwen-Image VAE: the activation workspace a decode needs, the choice between one pass
// and overlapping tiles under the VRAM budget, and the blending of decoded tiles.
//
// Tiles follow diffusers' AutoencoderKLQwenImage.tiled_decode: latent tiles of `tile` x `tile` start every
// `stride` latent pixels (the last ones are cut at the border, so they may be smaller); each is decoded on its
// own; in row-major order each decoded tile is blended in place with its upper neighbour over the first
// (tile − stride)·8 rows and then with its left neighbour over as many columns (both neighbours already
// blended), linearly: b[y] = a[end − e + y]·(1 − y/e) + b[y]·(y/e) with e the overlap (clipped to both
// tiles); the first stride·8 rows and columns of every tile make the image. The default tile is diffusers'
// (256 sample pixels, stride 192: latent 32 and 24).
//
// Blending smooths the seams but cannot make them vanish: the decoder's receptive field is wider than the
// overlap, so a tiled decode differs from the untiled one near tile borders (vae_test.cpp bounds it).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "models/activation_meter.h"
#include "models/qwen_image/vae_config.h"

namespace vramkit::qwen_image {

struct VaeTiling {
  std::int64_t tile = 32;    // latent pixels per tile side
  std::int64_t stride = 24;  // latent pixels between tile starts; tile − stride is the overlap
};

enum class VaeTilingMode {
  automatic,  // one pass when its workspace fits the available device memory, tiles otherwise
  always,
  never,
};

struct VaeDecodeOptions {
  VaeTilingMode tiling = VaeTilingMode::automatic;
  // Unset: diffusers' default tile, or the largest smaller one whose workspace fits (automatic planning).
  std::optional<VaeTiling> tile;
};

// Activation bytes at the peak of one decoder pass over a latent of `height` x `width` (batch `batch`,
// activations in `dtype`): the tensors alive at once as the forward pass keeps them (a block's input, the
// residual shortcut, the op's input and output) plus the scratch of the kernels that run it (OpKernels). The
// CPU kernels' (host, emulated device): f32 staging (inputs converted to f32, f32 results before rounding,
// convolution weights in f32, the im2col band of about 8 MiB). A device's (CUDA): the GEMM's library
// workspace and the unfolded input of a convolution (at most ops::kDeviceScratchBytes), the contiguous
// copy of its weight's last temporal tap, and the GEMM path's f32 copies and score block of the attention.
std::uint64_t vae_decode_workspace_bytes(const VaeConfig& config, std::int64_t batch, std::int64_t height,
                                         std::int64_t width, DType dtype, OpKernels kernels);
// The same for the encoder on an image of `height` x `width` pixels.
std::uint64_t vae_encode_workspace_bytes(const VaeConfig& config, std::int64_t batch, std::int64_t height,
                                         std::int64_t width, DType dtype, OpKernels kernels);

struct VaeDecodePlan {
  bool tiled = false;
  VaeTiling tiling;                   // when tiled
  std::vector<std::int64_t> rows;     // latent row of each tile row's start (when tiled)
  std::vector<std::int64_t> columns;  // latent column of each tile column's start
  std::uint64_t workspace_bytes = 0;  // of one pass: the whole latent, or the largest tile
  std::uint64_t untiled_workspace_bytes = 0;
  std::optional<std::uint64_t> available_bytes;  // unset: no budget known
  // The plan's pass does not fit the available bytes (even the smallest tile; the caller warns).
  bool over_budget() const { return available_bytes && workspace_bytes > *available_bytes; }
  // The decoder's forward passes: one, or one per tile.
  std::int64_t passes() const { return tiled ? static_cast<std::int64_t>(rows.size() * columns.size()) : 1; }
};

// Chooses how to decode a latent of height x width on `kernels`. `available_bytes` is the device memory the
// activations may use (unset: unlimited). Automatic: one pass when it fits; else tiles, of the requested size
// or, without one, of the largest size from diffusers' default (32, stride 24) down to 8 (stride 6), the
// stride always 3/4 of the tile, whose workspace fits. ArgumentError for a requested tiling with tile < 2 or
// stride not in [1, tile].
VaeDecodePlan plan_vae_decode(const VaeConfig& config, std::int64_t batch, std::int64_t height,
                              std::int64_t width, DType dtype, OpKernels kernels,
                              std::optional<std::uint64_t> available_bytes,
                              const VaeDecodeOptions& options = {});

// Assembles decoded tiles into the image: tiles[r][c] is the f32 decode [B, C, th·f, tw·f] of the latent tile
// at (plan.rows[r], plan.columns[c]), f = config.spatial_factor(); blended in place as described above. Returns
// f32 [B, C, height·f, width·f] for the latent height x width.
Tensor blend_decoded_tiles(std::vector<std::vector<Tensor>>& tiles, const VaeDecodePlan& plan, std::int64_t factor,
                           std::int64_t height, std::int64_t width);

}  // namespace vramkit::qwen_image
