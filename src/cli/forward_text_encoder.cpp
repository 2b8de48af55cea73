// `vramkit forward text_encoder`: the Qwen-Image text encoder (Qwen2.5-VL language model) on input_ids [B, L]
// (i64 or i32) and an optional attention_mask [B, L] -> hidden_states [B, L, hidden] (the post-norm last
// hidden state, float32).
#include "cli/forward_components.h"
#include "models/qwen_image/text_encoder.h"

namespace vramkit::cli {
namespace {

class ForwardTextEncoder final : public ForwardComponent {
 public:
  std::string name() const override { return "text_encoder"; }
  std::string description() const override {
    return "the Qwen-Image text encoder: input_ids [, attention_mask] -> hidden_states";
  }

  NamedTensors run(VramManager& manager, const std::filesystem::path& model, const VramConfig& vram,
                   const WeightFiles& inputs) override {
    auto encoder = qwen_image::QwenImageTextEncoder::open(manager, model, vram);
    const Tensor ids = forward_input(inputs, "input_ids");
    const Tensor mask = forward_input(inputs, "attention_mask", false);
    return {{"hidden_states", encoder->forward(ids, mask)}};
  }
};

}  // namespace

std::unique_ptr<ForwardComponent> make_forward_text_encoder() { return std::make_unique<ForwardTextEncoder>(); }

}  // namespace vramkit::cli
