// The Qwen-Image text encoder forward; see text_encoder.h.
#include "models/qwen_image/text_encoder.h"

#include <string>
#include <vector>

#include "io/model_folder.h"
#include "models/qwen_image/text_encoder_workspace.h"
#include "models/unit_cursor.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/placement.h"
#include "ops/rope.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

std::string describe_inputs(const Tensor& ids, const Tensor& mask) {
  return "Qwen-Image text encoder forward: input_ids " + ids.str() +
         (mask.defined() ? ", attention_mask " + mask.str() : std::string());
}

void check_inputs(const TextEncoderConfig& c, const Tensor& ids, const Tensor& mask) {
  if (ids.rank() != 2 || ids.size(0) == 0 || ids.size(1) == 0)
    throw ShapeError(describe_inputs(ids, mask) + ": input_ids must be [B, L] with B, L >= 1");
  if (ids.dtype() != DType::i64 && ids.dtype() != DType::i32)
    throw ArgumentError(describe_inputs(ids, mask) + ": input_ids must be i64 or i32");
  if (mask.defined()) {
    if (mask.rank() != 2 || mask.size(0) != ids.size(0) || mask.size(1) != ids.size(1))
      throw ShapeError(describe_inputs(ids, mask) + ": attention_mask must be [B, L] like input_ids");
    if (mask.dtype() != DType::boolean && mask.dtype() != DType::u8 && mask.dtype() != DType::i32 &&
        mask.dtype() != DType::i64)
      throw ArgumentError(describe_inputs(ids, mask) + ": attention_mask must be bool, u8, i32 or i64");
  }
  const Tensor ids64 = ids.to(DType::i64);
  const auto* id = ids64.data_as<std::int64_t>();
  const std::int64_t length = ids.size(1);
  for (std::int64_t i = 0; i < ids64.numel(); ++i)
    if (id[i] < 0 || id[i] >= c.vocab_size)
      throw ArgumentError(describe_inputs(ids, mask) + ": input_ids[" + std::to_string(i / length) + ", " +
                          std::to_string(i % length) + "] = " + std::to_string(id[i]) +
                          " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
}

// The key padding mask as u8 [B, L] (non-zero -> 1) and the rotary positions [B, L] i64 of transformers 4.x's
// get_rope_index for text: cumsum(mask) - 1 on the real tokens, 1 on the padded slots; 0..L-1 without a mask.
struct Positions {
  Tensor key_mask;
  Tensor position_ids;
};

Positions positions_of(const Tensor& mask, std::int64_t batch, std::int64_t length) {
  Positions p;
  p.position_ids = Tensor::zeros({batch, length}, DType::i64);
  auto* pos = p.position_ids.data_as<std::int64_t>();
  if (!mask.defined()) {
    for (std::int64_t b = 0; b < batch; ++b)
      for (std::int64_t i = 0; i < length; ++i) pos[b * length + i] = i;
    return p;
  }
  p.key_mask = Tensor::zeros({batch, length}, DType::u8);
  const Tensor mask64 = mask.to(DType::i64);
  const auto* m = mask64.data_as<std::int64_t>();
  auto* k = p.key_mask.data_as<std::uint8_t>();
  for (std::int64_t b = 0; b < batch; ++b) {
    std::int64_t seen = 0;
    for (std::int64_t i = 0; i < length; ++i) {
      const bool real = m[b * length + i] != 0;
      k[b * length + i] = real ? 1 : 0;
      pos[b * length + i] = real ? seen++ : 1;
    }
  }
  return p;
}

struct LayerContext {
  const TextEncoderConfig& config;
  const ops::RopeTable& rope;
  const Tensor& key_mask;  // [B, L] u8 or undefined
};

// Self-attention of one layer on n = input_layernorm(h) -> o_proj's output [B, L, hidden]. Functions of their
// own, this one and swiglu_mlp(), so that their intermediates die before the next part of the layer runs
// (text_encoder_workspace_bytes counts the activations alive at each step).
Tensor self_attention(UnitCursor& units, const LayerContext& ctx, const std::string& p, const Tensor& n) {
  const TextEncoderConfig& c = ctx.config;
  const std::int64_t batch = n.size(0), length = n.size(1);
  const auto heads = [&](const Tensor& t, std::int64_t count) {
    return t.reshape({batch, length, count, c.head_dim()});
  };
  Tensor attn;
  {
    Tensor q = heads(units.linear(p + "self_attn.q_proj", n), c.num_attention_heads);
    Tensor k = heads(units.linear(p + "self_attn.k_proj", n), c.num_key_value_heads);
    const Tensor v = heads(units.linear(p + "self_attn.v_proj", n), c.num_key_value_heads);
    q = ops::apply_rope(q, ctx.rope);
    k = ops::apply_rope(k, ctx.rope);
    ops::AttentionOptions options;
    options.causal = true;
    options.key_mask = ctx.key_mask;
    attn = ops::attention(q, k, v, options).reshape({batch, length, c.hidden_size});
  }
  return units.linear_without_bias(p + "self_attn.o_proj", attn);
}

// down_proj(silu(gate_proj(m)) · up_proj(m)), m = post_attention_layernorm(h).
Tensor swiglu_mlp(UnitCursor& units, const std::string& p, const Tensor& m) {
  Tensor hidden;
  {
    const Tensor gate = units.linear_without_bias(p + "mlp.gate_proj", m);
    const Tensor up = units.linear_without_bias(p + "mlp.up_proj", m);
    hidden = ops::swiglu(gate, up);
  }
  return units.linear_without_bias(p + "mlp.down_proj", hidden);
}

void run_layer(UnitCursor& units, const LayerContext& ctx, const std::string& p, Tensor& h) {
  const double eps = ctx.config.rms_norm_eps;
  h = ops::add(h, self_attention(units, ctx, p, units.rms_norm(p + "input_layernorm", h, eps)));
  h = ops::add(h, swiglu_mlp(units, p, units.rms_norm(p + "post_attention_layernorm", h, eps)));
}

}  // namespace

QwenImageTextEncoder::QwenImageTextEncoder(VramManager& manager, TextEncoderConfig config,
                                           TextEncoderKeyNaming naming, std::shared_ptr<const WeightFiles> files,
                                           const VramConfig& vram, ModelOptions options)
    : config_(config), naming_(naming), files_(files) {
  validate_text_encoder_weights(config_, naming_, *files);
  std::vector<UnitSpec> units = text_encoder_units(config_, naming_);
  if (manager.options().block_units) units = group_block_units(units, "layers.");
  model_ = manager.add_model("text_encoder", std::move(files), std::move(units), vram, std::move(options));
}

std::unique_ptr<QwenImageTextEncoder> QwenImageTextEncoder::open(VramManager& manager,
                                                                 const std::filesystem::path& folder,
                                                                 const VramConfig& vram, ModelOptions options) {
  const std::filesystem::path component =
      ModelFolder::is_model_folder(folder) ? folder / "text_encoder" : folder;
  const TextEncoderConfig config = TextEncoderConfig::from_json_file(component / "config.json");
  auto files = std::make_shared<const WeightFiles>(WeightFiles::open(component));
  const TextEncoderKeyNaming naming = detect_text_encoder_key_naming(*files);
  return std::make_unique<QwenImageTextEncoder>(manager, config, naming, std::move(files), vram,
                                                std::move(options));
}

Tensor QwenImageTextEncoder::forward(const Tensor& input_ids, const Tensor& attention_mask) {
  check_inputs(config_, input_ids, attention_mask);
  const DType dtype = computation_dtype();
  const std::int64_t batch = input_ids.size(0), length = input_ids.size(1);
  // The key mask and rotary tables beside the activations (prepare_for_generation in the pipeline counts the
  // same).
  model_->reserve_workspace(static_cast<std::uint64_t>(batch * length) * 16 +
                            text_encoder_workspace_bytes(config_, batch, length, attention_mask.defined(),
                                                         dtype, op_kernels_of(*model_)));
  if (!model_->onloaded()) model_->onload();
  const Positions positions = positions_of(attention_mask, batch, length);
  const Device device = model_->device();
  const ops::RopeTable rope =
      ops::to_device(ops::rope_1d(positions.position_ids, config_.head_dim(), config_.rope_theta), device);
  const Tensor key_mask =
      positions.key_mask.defined() ? ops::to_device(positions.key_mask, device) : Tensor();
  const LayerContext ctx{config_, rope, key_mask};
  const std::string prefix = text_encoder_key_prefix(naming_);

  // The prompt's rows of the embedding table, read where the checkpoint lies (text_encoder.h).
  Tensor h =
      ops::to_device(ops::embedding(input_ids, files_->view(prefix + "embed_tokens.weight")), device, dtype);
  UnitCursor units(*model_);
  for (std::int64_t i = 0; i < config_.num_hidden_layers; ++i)
    run_layer(units, ctx, prefix + "layers." + std::to_string(i) + ".", h);
  return ops::to_host(ops::cast(units.rms_norm(prefix + "norm", h, config_.rms_norm_eps), DType::f32));
}

}  // namespace vramkit::qwen_image
