// The unit cursor of the model forward passes; see unit_cursor.h.
#include "models/unit_cursor.h"

#include <string>

#include "ops/embedding.h"
#include "ops/linear.h"
#include "ops/norm.h"
#include "vramkit/error.h"
#include "vramkit/log.h"

namespace vramkit {

UnitCursor::~UnitCursor() {
  if (std::uncaught_exceptions() <= exceptions_ || position_ == 0 || position_ >= model_.units().size()) return;
  try {
    model_.rewind();
  } catch (const std::exception& e) {
    log_error("model " + model_.name() + ": cannot rewind after a failed forward pass: " + e.what());
  }
}

UnitLease UnitCursor::next(std::string_view unit_name) {
  const auto& units = model_.units();
  if (position_ >= units.size() || units[position_].name != unit_name)
    throw ArgumentError("model " + model_.name() + ": the forward pass asked for unit " +
                        std::string(unit_name) + " at position " + std::to_string(position_) +
                        " of the execution order, which holds " +
                        (position_ < units.size() ? units[position_].name : std::string("nothing")));
  return model_.acquire(position_++);
}

Tensor UnitCursor::linear(std::string_view name, const Tensor& x) {
  const UnitLease lease = next(name);
  const std::string n(name);
  return ops::linear(x, lease.get(n + ".weight"), lease.get(n + ".bias"));
}

Tensor UnitCursor::linear_without_bias(std::string_view name, const Tensor& x) {
  const UnitLease lease = next(name);
  return ops::linear(x, lease.get(std::string(name) + ".weight"));
}

Tensor UnitCursor::rms_norm(std::string_view name, const Tensor& x, double eps) {
  const UnitLease lease = next(name);
  return ops::rms_norm(x, lease.get(std::string(name) + ".weight"), eps);
}

Tensor UnitCursor::embedding(std::string_view name, const Tensor& indices) {
  const UnitLease lease = next(name);
  return ops::embedding(indices, lease.get(std::string(name) + ".weight"));
}

}  // namespace vramkit
