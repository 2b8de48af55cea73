// Internal pieces of the Qwen-Image transformer forward (dit.cpp): the cursor that hands out the managed
// units in their declared order, and one dual-stream block.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/tensor.h"
#include "models/qwen_image/dit_config.h"
#include "models/qwen_image/dit_modulation.h"
#include "ops/rope.h"
#include "vram/managed_model.h"

namespace vramkit::qwen_image {

// Acquires the model's units one after the other. Each call names the unit it expects, so that a forward pass
// that drifts from the declared execution order fails loudly instead of reading the wrong weights.
class UnitCursor {
 public:
  explicit UnitCursor(ManagedModel& model) : model_(model) {}
  UnitLease next(std::string_view unit_name);
  // linear(x) with the unit `name`'s weight and bias.
  Tensor linear(std::string_view name, const Tensor& x);
  // rms_norm(x) over the last dimension with the unit `name`'s weight.
  Tensor rms_norm(std::string_view name, const Tensor& x, double eps);
  std::size_t position() const { return position_; }

 private:
  ManagedModel& model_;
  std::size_t position_ = 0;
};

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
