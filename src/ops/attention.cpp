// attention: validation and dispatch (contract in attention.h, kernel in cpu/attention.cpp).
#include "ops/attention.h"

#include <algorithm>
#include <cmath>

#include "ops/cpu/attention.h"
#include "ops/op_util.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

constexpr const char* kAttention = "attention";

std::string shapes(const Tensor& q, const Tensor& k, const Tensor& v) {
  return describe({{"q", &q}, {"k", &k}, {"v", &v}});
}

}  // namespace

Tensor key_mask_of_lengths(const std::vector<std::int64_t>& lengths, std::int64_t kv_len) {
  Tensor mask = Tensor::zeros({static_cast<std::int64_t>(lengths.size()), kv_len}, DType::boolean);
  auto* m = mask.data_as<std::uint8_t>();
  for (std::size_t b = 0; b < lengths.size(); ++b)
    for (std::int64_t j = 0; j < std::min(lengths[b], kv_len); ++j)
      m[b * static_cast<std::size_t>(kv_len) + static_cast<std::size_t>(j)] = 1;
  return mask;
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& options) {
  check_defined(kAttention, "q", q);
  check_defined(kAttention, "k", k);
  check_defined(kAttention, "v", v);
  const Device device =
      op_device(kAttention, {{"q", &q}, {"k", &k}, {"v", &v}, {"key_mask", &options.key_mask}});
  check_dtype(kAttention, "q", q, kFloatActivations);
  check_dtype(kAttention, "k", k, kFloatActivations);
  check_dtype(kAttention, "v", v, kFloatActivations);
  check_rank(kAttention, "q", q, 4);
  check_rank(kAttention, "k", k, 4);
  check_rank(kAttention, "v", v, 4);
  if (!(k.shape() == v.shape()))
    throw ShapeError(std::string(kAttention) + ": " + shapes(q, k, v) + ": k and v shapes differ");
  if (q.size(0) != k.size(0) || q.size(3) != k.size(3))
    throw ShapeError(std::string(kAttention) + ": " + shapes(q, k, v) +
                     ": batch or head_dim differ between q and k");
  if (k.size(2) == 0 || q.size(2) % k.size(2) != 0)
    throw ShapeError(std::string(kAttention) + ": " + shapes(q, k, v) +
                     ": query heads must be a non-zero multiple of key/value heads");
  if (options.key_mask.defined()) {
    const Tensor& m = options.key_mask;
    check_dtype(kAttention, "key_mask", m, {DType::boolean, DType::u8, DType::i32, DType::i64});
    if (m.rank() != 2 || m.size(0) != k.size(0) || m.size(1) != k.size(1))
      throw ShapeError(std::string(kAttention) + ": key_mask " + m.str() + " must be [B, Lk] for " +
                       shapes(q, k, v));
  }
  if (!options.key_lengths.empty()) {
    if (options.key_mask.defined())
      throw ArgumentError(std::string(kAttention) + ": " + shapes(q, k, v) +
                          ": key_mask and key_lengths together");
    if (static_cast<std::int64_t>(options.key_lengths.size()) != k.size(0))
      throw ShapeError(std::string(kAttention) + ": " + std::to_string(options.key_lengths.size()) +
                       " key lengths for " + shapes(q, k, v) + " (one per batch element)");
    for (const std::int64_t n : options.key_lengths)
      if (n < 0 || n > k.size(1))
        throw ArgumentError(std::string(kAttention) + ": key length " + std::to_string(n) + " outside [0, " +
                            std::to_string(k.size(1)) + "] for " + shapes(q, k, v));
  }
  const float scale = options.scale.value_or(1.0f / std::sqrt(static_cast<float>(q.size(3))));
  if (!std::isfinite(scale))
    throw ArgumentError(std::string(kAttention) + ": scale " + std::to_string(scale) + " is not finite");
  if (DeviceOps* d = device_ops_for(device)) {
    AttentionOptions resolved = options;
    resolved.scale = scale;
    return d->attention(q, k, v, resolved);
  }
  // One byte per key, non-zero -> 1, contiguous.
  const Tensor valid = options.key_mask.defined()     ? options.key_mask.to(DType::boolean)
                       : !options.key_lengths.empty() ? key_mask_of_lengths(options.key_lengths, k.size(1))
                                                      : Tensor();

  const Tensor q32 = to_f32_contiguous(q);
  const Tensor k32 = to_f32_contiguous(k);
  const Tensor v32 = to_f32_contiguous(v);
  Tensor out = Tensor::empty(q.shape(), DType::f32);
  const cpu::AttentionDims dims{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3)};
  cpu::attention_f32(q32.data_as<float>(), k32.data_as<float>(), v32.data_as<float>(), out.data_as<float>(),
                     dims, valid.defined() ? valid.data_as<std::uint8_t>() : nullptr, options.causal, scale);
  return place_result(f32_to_dtype(out, q.dtype()), device);
}

}  // namespace vramkit::ops
