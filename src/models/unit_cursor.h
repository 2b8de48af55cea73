// The cursor through which a model's forward pass takes its weights from the VRAM manager: it acquires the
// managed units one after the other in their declared execution order, and applies the common leaf modules
// (Linear, RMSNorm, Embedding) with the unit's tensors. A lease is released when it goes out of scope, so a
// helper holds its unit only while it computes.
//
// Block units (group_block_units: one unit for all the leaves of a transformer block) are served to the leaf
// helpers too: the first leaf of a block acquires the block's unit, the cursor holds it while the block's
// leaves are asked for, and releases it when a leaf outside the block is.
#pragma once

#include <cstddef>
#include <exception>
#include <string>
#include <string_view>

#include "core/tensor.h"
#include "vram/managed_model.h"

namespace vramkit {

class UnitCursor {
 public:
  explicit UnitCursor(ManagedModel& model) : model_(model), exceptions_(std::uncaught_exceptions()) {}
  // A pass that ends midway because an exception is unwinding through it rewinds the model's streaming, so
  // the next forward starts again from the first unit (ManagedModel::rewind).
  ~UnitCursor();
  UnitCursor(const UnitCursor&) = delete;
  UnitCursor& operator=(const UnitCursor&) = delete;
  // Each call names the unit it expects, so that a forward pass that drifts from the declared execution order
  // fails loudly (ArgumentError naming the model, the position and both units) instead of reading the wrong
  // weights.
  UnitLease next(std::string_view unit_name);
  // linear(x) with the unit `name`'s weight and bias (name.weight, name.bias); a weight the lease hands out
  // in fp8 (ManagerOptions::native_fp8_gemm) goes through ops::fp8_linear with its scales.
  Tensor linear(std::string_view name, const Tensor& x);
  // linear(x) with the unit `name`'s weight only (a bias=False Linear).
  Tensor linear_without_bias(std::string_view name, const Tensor& x);
  // rms_norm(x) over the last dimension with the unit `name`'s weight.
  Tensor rms_norm(std::string_view name, const Tensor& x, double eps);
  // Rows of the unit `name`'s weight [V, D] picked by the indices (ops::embedding).
  Tensor embedding(std::string_view name, const Tensor& indices);
  std::size_t position() const { return position_; }
  // The device the model computes on (its leases' device): activations go there (ops::to_device).
  Device device() const { return model_.device(); }

 private:
  // The lease holding the leaf module `name`'s tensors: the held block's, or the next unit's (a leaf unit
  // goes to `leaf`, a block unit is held in block_).
  const UnitLease& lease_for(std::string_view name, UnitLease& leaf);
  void release_block();

  ManagedModel& model_;
  UnitLease block_;           // the block unit being served, if any
  std::string block_prefix_;  // its name and a '.'; empty when none is held
  int exceptions_;  // uncaught exceptions when the pass began
  std::size_t position_ = 0;
};

}  // namespace vramkit
