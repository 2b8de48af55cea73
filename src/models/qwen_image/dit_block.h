// Internal pieces of the Qwen-Image transformer forward (dit.cpp): one dual-stream block.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "models/qwen_image/dit_config.h"
#include "models/qwen_image/dit_modulation.h"
#include "models/unit_cursor.h"
#include "ops/rope.h"

namespace vramkit::qwen_image {

// What every block shares.
// The text padding as the joint attention's keys, ordered [image, text]: the valid length of each sequence
// (its padding is last), or where the text mask is not valid tokens then padding, a u8 [B, N + L] key mask;
// neither when every token is valid.
struct JointKeys {
  std::vector<std::int64_t> lengths;
  Tensor mask;
};

// The JointKeys of a host text mask [B, L] (non-zero = valid) before N image tokens.
JointKeys joint_keys(const Tensor& text_mask, std::int64_t n_img);

struct BlockContext {
  const DitConfig& config;
  const DitModulation& modulation;  // B rows: the batch's timesteps
  const ops::QwenImageRope& rope;   // image and text tables
  const JointKeys& keys;
};

// One QwenImageTransformerBlock: updates the image stream x [B, N, D] and the text stream c [B, L, D].
void run_block(UnitCursor& units, const BlockContext& ctx, std::int64_t index, Tensor& x, Tensor& c);

}  // namespace vramkit::qwen_image
