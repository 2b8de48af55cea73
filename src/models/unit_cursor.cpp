// The unit cursor of the model forward passes; see unit_cursor.h.
#include "models/unit_cursor.h"

#include <string>

#include "ops/embedding.h"
#include "ops/fp8_linear.h"
#include "ops/linear.h"
#include "ops/norm.h"
#include "vramkit/error.h"
#include "vramkit/log.h"

namespace vramkit {

UnitCursor::~UnitCursor() {
  release_block();
  if (std::uncaught_exceptions() <= exceptions_ || position_ == 0 || position_ >= model_.units().size()) return;
  try {
    model_.rewind();
  } catch (const std::exception& e) {
    log_error("model " + model_.name() + ": cannot rewind after a failed forward pass: " + e.what());
  }
}

void UnitCursor::release_block() {
  block_ = UnitLease();
  block_prefix_.clear();
}

UnitLease UnitCursor::next(std::string_view unit_name) {
  release_block();
  const auto& units = model_.units();
  if (position_ >= units.size() || units[position_].name != unit_name)
    throw ArgumentError("model " + model_.name() + ": the forward pass asked for unit " +
                        std::string(unit_name) + " at position " + std::to_string(position_) +
                        " of the execution order, which holds " +
                        (position_ < units.size() ? units[position_].name : std::string("nothing")));
  return model_.acquire(position_++);
}

const UnitLease& UnitCursor::lease_for(std::string_view name, UnitLease& leaf) {
  if (!block_prefix_.empty() && name.starts_with(block_prefix_)) return block_;
  release_block();
  const auto& units = model_.units();
  if (position_ < units.size()) {
    const std::string prefix = units[position_].name + ".";
    if (name.starts_with(prefix)) {
      block_ = model_.acquire(position_++);
      block_prefix_ = prefix;
      return block_;
    }
  }
  leaf = next(name);
  return leaf;
}

namespace {

// x · Wᵀ + bias with the lease's weight `key`: an fp8 weight (only handed out under
// ManagerOptions::native_fp8_gemm) multiplies natively with its scales, any other through ops::linear.
Tensor linear_with(const UnitLease& lease, const std::string& key, const Tensor& x, const Tensor& bias) {
  const Tensor& weight = lease.get(key);
  if (weight.dtype() == DType::f8_e4m3fn || weight.dtype() == DType::f8_e5m2)
    return ops::fp8_linear(x, weight, lease.scale(key), bias);
  return ops::linear(x, weight, bias);
}

}  // namespace

Tensor UnitCursor::linear(std::string_view name, const Tensor& x) {
  UnitLease leaf;
  const UnitLease& lease = lease_for(name, leaf);
  const std::string n(name);
  return linear_with(lease, n + ".weight", x, lease.get(n + ".bias"));
}

Tensor UnitCursor::linear_without_bias(std::string_view name, const Tensor& x) {
  UnitLease leaf;
  return linear_with(lease_for(name, leaf), std::string(name) + ".weight", x, Tensor());
}

Tensor UnitCursor::rms_norm(std::string_view name, const Tensor& x, double eps) {
  UnitLease leaf;
  return ops::rms_norm(x, lease_for(name, leaf).get(std::string(name) + ".weight"), eps);
}

Tensor UnitCursor::embedding(std::string_view name, const Tensor& indices) {
  UnitLease leaf;
  return ops::embedding(indices, lease_for(name, leaf).get(std::string(name) + ".weight"));
}

}  // namespace vramkit
