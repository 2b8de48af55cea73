// Internal pieces of the Qwen-Image transformer forward (dit.cpp): one dual-stream block, which takes its
// units through the shared UnitCursor (unit_cursor.h).
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "models/qwen_image/dit_config.h"
#include "models/qwen_image/dit_modulation.h"
#include "models/qwen_image/unit_cursor.h"
#include "ops/rope.h"

namespace vramkit::qwen_image {

// What every block shares.
struct BlockContext {
  const DitConfig& config;
  const DitModulation& modulation;  // B rows: the batch's timesteps
  const ops::QwenImageRope& rope;   // image and text tables
  const Tensor& key_mask;          // [B, L + N] u8 or undefined (no padding)
};

// One QwenImageTransformerBlock: updates the image stream x [B, N, D] and the text stream c [B, L, D].
void run_block(UnitCursor& units, const BlockContext& ctx, std::int64_t index, Tensor& x, Tensor& c);

}  // namespace vramkit::qwen_image
