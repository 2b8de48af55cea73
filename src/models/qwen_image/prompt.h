// The Qwen-Image prompt template (diffusers QwenImagePipeline, spec §4.4): the text encoder sees
//   <|im_start|>system\n{system
//   prompt}<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n
// tokenized as one string. Its first 34 tokens (the system part up to "user\n") are dropped from the
// encoder's hidden states (prompt_embeds.h), so the conditioning is the prompt's tokens plus the 5 suffix tokens
// <|im_end|> \n <|im_start|> assistant \n.
// Length rules of the reference: the tokenizer truncates the templated ids to 1024 + 34 tokens (so a prompt
// that long loses its suffix tokens, then its tail); after the drop the pipeline keeps the first
// max_sequence_length (default 512) positions, and refuses a max_sequence_length above 1024.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "models/qwen_image/tokenizer.h"

namespace vramkit {

inline constexpr std::size_t kQwenImagePromptDropTokens = 34;
inline constexpr std::size_t kQwenImageMaxPromptTokens = 1024;
inline constexpr std::size_t kQwenImageDefaultMaxSequenceLength = 512;

// The template with `prompt` in place.
std::string qwen_image_prompt_text(std::string_view prompt);

// The ids the text encoder runs on: the templated prompt, truncated to kQwenImageMaxPromptTokens +
// kQwenImagePromptDropTokens as the reference tokenizer call does. The positive and the negative prompt are
// each encoded this way.
std::vector<std::int32_t> qwen_image_prompt_ids(const Qwen2Tokenizer& tokenizer, std::string_view prompt);

}  // namespace vramkit
