// Layout ops: concatenation, splitting, contiguous/permuted copies and Qwen-Image's 2x2 latent patchify. They
// move elements without arithmetic, so they accept every dtype and return the input's dtype. Slicing is a
// view already (Tensor::slice, Tensor::select).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "core/tensor.h"

namespace vramkit::ops {

// Joins tensors of one dtype and rank along `dim` (negative counts from the end); every other dim must agree.
// Empty inputs along `dim` are allowed. Returns a new contiguous tensor.
Tensor concat(std::span<const Tensor> tensors, int dim);
Tensor concat(std::initializer_list<Tensor> tensors, int dim);

// Views of consecutive pieces of x along `dim` with the given sizes (which must sum to x.size(dim)), as
// torch.split with a list of sizes. No copy.
std::vector<Tensor> split(const Tensor& x, std::span<const std::int64_t> sizes, int dim);
std::vector<Tensor> split(const Tensor& x, std::initializer_list<std::int64_t> sizes, int dim);

// A contiguous copy of x (x itself when already contiguous), copied by all threads for large tensors.
Tensor contiguous(const Tensor& x);
// x.permute(order) materialized as a contiguous tensor (threaded strided copy).
Tensor permute_contiguous(const Tensor& x, std::span<const int> order);
Tensor permute_contiguous(const Tensor& x, std::initializer_list<int> order);

// Qwen-Image pipeline _pack_latents: [B, C, H, W] -> [B, (H/2)·(W/2), C·4]; token n = row·(W/2) + col,
// channel c·4 + dy·2 + dx holds latents[b, c, 2·row + dy, 2·col + dx]. H and W must be even (ShapeError
// otherwise).
Tensor pack_latents(const Tensor& latents);
// The inverse (_unpack_latents without its frame axis; unsqueeze(2) gives the VAE's [B, C, 1, H, W]):
// [B, (H/2)·(W/2), C·4] -> [B, C, H, W] for a latent of height x width. ShapeError when the sizes disagree.
Tensor unpack_latents(const Tensor& packed, std::int64_t height, std::int64_t width);

}  // namespace vramkit::ops
