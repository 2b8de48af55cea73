// The Qwen-Image pipeline's step from the text encoder's output to the transformer's text conditioning
// (diffusers QwenImagePipeline._get_qwen_prompt_embeds + encode_prompt, spec §4.4), for the positive and the
// negative prompt alike:
//   1. per sample, keep the positions whose attention mask is non-zero (so left or right padding both work),
//   2. drop the first kQwenImagePromptDropTokens (34: the template's system prefix up to "user\n"),
//   3. pad every sample with zero rows to the longest, with a mask of ones on the real rows,
//   4. keep the first max_sequence_length positions (the pipeline's default 512; it refuses more than 1024,
//      the most the tokenizer call leaves after the drop, see prompt.h),
//   5. the mask becomes undefined when it is all ones (diffusers passes None then).
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "models/qwen_image/prompt.h"

namespace vramkit::qwen_image {

struct PromptEmbeds {
  Tensor embeds;  // [B, L, D] in the hidden states' dtype
  Tensor mask;    // [B, L] i64 (1 = a real token), or undefined when every position is real
};

// hidden_states [B, S, D] (the text encoder's output on the templated ids), attention_mask [B, S] (bool / u8 /
// i32 / i64, non-zero = real) or undefined (all real). ShapeError for mismatched shapes; ArgumentError for
// max_sequence_length outside [1, 1024] or a sample with no more real tokens than the 34 dropped (not a
// templated prompt), naming the sample.
PromptEmbeds qwen_image_prompt_embeds(const Tensor& hidden_states, const Tensor& attention_mask,
                                      std::int64_t max_sequence_length = kQwenImageDefaultMaxSequenceLength);

}  // namespace vramkit::qwen_image
