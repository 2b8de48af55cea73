// The Qwen-Image prompt template; see prompt.h.
#include "models/qwen_image/prompt.h"

namespace vramkit {

std::string qwen_image_prompt_text(std::string_view prompt) {
  static constexpr std::string_view kPrefix =
      "<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, "
      "spatial relationships of the objects and background:<|im_end|>\n<|im_start|>user\n";
  static constexpr std::string_view kSuffix = "<|im_end|>\n<|im_start|>assistant\n";
  std::string text;
  text.reserve(kPrefix.size() + prompt.size() + kSuffix.size());
  text.append(kPrefix).append(prompt).append(kSuffix);
  return text;
}

std::vector<std::int32_t> qwen_image_prompt_ids(const Qwen2Tokenizer& tokenizer, std::string_view prompt) {
  std::vector<std::int32_t> ids = tokenizer.encode(qwen_image_prompt_text(prompt));
  const std::size_t limit = kQwenImageMaxPromptTokens + kQwenImagePromptDropTokens;
  if (ids.size() > limit) ids.resize(limit);
  return ids;
}

}  // namespace vramkit
