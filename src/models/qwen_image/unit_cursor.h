// The cursor through which a model's forward pass takes its managed units: one after the other, in the
// execution order the model declared to the VRAM manager, each lease released when it goes out of scope.
// Shared by the Qwen-Image components (transformer, VAE).
#pragma once

#include <cstddef>
#include <string_view>

#include "core/tensor.h"
#include "vram/managed_model.h"

namespace vramkit::qwen_image {

// Each call names the unit it expects, so that a forward pass that drifts from the declared execution order
// fails loudly (ArgumentError naming the model, the unit asked for and the one due) instead of reading the
// wrong weights.
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

}  // namespace vramkit::qwen_image
