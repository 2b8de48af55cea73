// Text-encoder output to prompt embeddings; see prompt_embeds.h.
#include "models/qwen_image/prompt_embeds.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "vramkit/error.h"

namespace vramkit::qwen_image {

PromptEmbeds qwen_image_prompt_embeds(const Tensor& hidden_states, const Tensor& attention_mask,
                                      std::int64_t max_sequence_length) {
  const std::string what = "Qwen-Image prompt embeddings from hidden_states " + hidden_states.str() +
                           (attention_mask.defined() ? ", attention_mask " + attention_mask.str() : std::string());
  if (hidden_states.rank() != 3) throw ShapeError(what + ": hidden_states must be [B, S, D]");
  const std::int64_t batch = hidden_states.size(0), length = hidden_states.size(1), dim = hidden_states.size(2);
  if (attention_mask.defined() &&
      (attention_mask.rank() != 2 || attention_mask.size(0) != batch || attention_mask.size(1) != length))
    throw ShapeError(what + ": attention_mask must be [B, S] like hidden_states");
  if (max_sequence_length < 1 || max_sequence_length > static_cast<std::int64_t>(kQwenImageMaxPromptTokens))
    throw ArgumentError(what + ": max_sequence_length " + std::to_string(max_sequence_length) +
                        " is outside [1, " + std::to_string(kQwenImageMaxPromptTokens) + "]");
  const auto drop = static_cast<std::int64_t>(kQwenImagePromptDropTokens);

  // The real positions of each sample, after the drop.
  const Tensor mask = attention_mask.defined() ? attention_mask.to(DType::i64) : Tensor();
  std::vector<std::vector<std::int64_t>> kept(static_cast<std::size_t>(batch));
  std::int64_t longest = 0;
  for (std::int64_t b = 0; b < batch; ++b) {
    std::vector<std::int64_t> real;
    for (std::int64_t s = 0; s < length; ++s)
      if (!mask.defined() || mask.data_as<std::int64_t>()[b * length + s] != 0) real.push_back(s);
    if (static_cast<std::int64_t>(real.size()) <= drop)
      throw ArgumentError(what + ": sample " + std::to_string(b) + " has " + std::to_string(real.size()) +
                          " real tokens, not more than the " + std::to_string(drop) +
                          " of the prompt template's system prefix");
    auto& rows = kept[static_cast<std::size_t>(b)];
    rows.assign(real.begin() + drop, real.end());
    rows.resize(std::min<std::size_t>(rows.size(), static_cast<std::size_t>(max_sequence_length)));
    longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(rows.size()));
  }

  const Tensor source = hidden_states.contiguous();
  PromptEmbeds out;
  out.embeds = Tensor::zeros({batch, longest, dim}, source.dtype());
  out.mask = Tensor::zeros({batch, longest}, DType::i64);
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * source.element_size();
  bool all_real = true;
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto& rows = kept[static_cast<std::size_t>(b)];
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::memcpy(static_cast<char*>(out.embeds.data()) + (b * longest + static_cast<std::int64_t>(i)) * row_bytes,
                  static_cast<const char*>(source.data()) + (b * length + rows[i]) * row_bytes, row_bytes);
      out.mask.data_as<std::int64_t>()[b * longest + static_cast<std::int64_t>(i)] = 1;
    }
    all_real = all_real && static_cast<std::int64_t>(rows.size()) == longest;
  }
  if (all_real) out.mask = Tensor();
  return out;
}

}  // namespace vramkit::qwen_image
