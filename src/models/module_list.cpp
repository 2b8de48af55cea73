// Module lists, their units and the checkpoint validation; see module_list.h.
#include "models/module_list.h"

#include <cctype>
#include <map>

#include "vramkit/error.h"

namespace vramkit {

void ModuleListBuilder::linear(const std::string& name, std::int64_t out, std::int64_t in) {
  modules_.push_back({name, {{name + ".weight", {out, in}}, {name + ".bias", {out}}}});
}

void ModuleListBuilder::linear_without_bias(const std::string& name, std::int64_t out, std::int64_t in) {
  modules_.push_back({name, {{name + ".weight", {out, in}}}});
}

void ModuleListBuilder::norm(const std::string& name, std::int64_t dim) {
  modules_.push_back({name, {{name + ".weight", {dim}}}});
}

void ModuleListBuilder::embedding(const std::string& name, std::int64_t rows, std::int64_t dim) {
  modules_.push_back({name, {{name + ".weight", {rows, dim}}}});
}

std::vector<UnitSpec> units_of(const std::vector<ModuleSpec>& modules) {
  std::vector<UnitSpec> units;
  for (const ModuleSpec& module : modules) {
    UnitSpec& u = units.emplace_back(UnitSpec{module.name, {}});
    for (const ExpectedTensor& t : module.tensors) u.tensors.push_back(t.name);
  }
  return units;
}

namespace {

// "model.layers.3" for "model.layers.3.mlp.up_proj" and marker "layers."; empty when the name has no block.
std::string block_of(const std::string& name, std::string_view marker) {
  const std::size_t at = name.find(marker);
  if (at == std::string::npos || (at > 0 && name[at - 1] != '.')) return {};
  const std::size_t digits = at + marker.size();
  std::size_t end = digits;
  while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
  if (end == digits || end >= name.size() || name[end] != '.') return {};
  return name.substr(0, end);
}

}  // namespace

std::vector<UnitSpec> group_block_units(const std::vector<UnitSpec>& units, std::string_view marker) {
  std::vector<UnitSpec> grouped;
  std::string open;  // the block of grouped.back(), if it is a block unit
  for (const UnitSpec& u : units) {
    const std::string block = block_of(u.name, marker);
    if (block.empty()) {
      grouped.push_back(u);
      open.clear();
      continue;
    }
    if (block != open) {
      grouped.push_back(UnitSpec{block, {}});
      open = block;
    }
    auto& tensors = grouped.back().tensors;
    tensors.insert(tensors.end(), u.tensors.begin(), u.tensors.end());
  }
  return grouped;
}

std::int64_t parameter_count(const std::vector<ModuleSpec>& modules) {
  std::int64_t n = 0;
  for (const ModuleSpec& module : modules)
    for (const ExpectedTensor& t : module.tensors) n += t.shape.numel();
  return n;
}

void validate_module_weights(const std::vector<ModuleSpec>& modules, const WeightFiles& files,
                             const std::string& what, const std::function<bool(std::string_view)>& ignored) {
  std::map<std::string, Shape> expected;
  for (const ModuleSpec& module : modules)
    for (const ExpectedTensor& t : module.tensors) expected.emplace(t.name, t.shape);
  std::vector<std::string> missing, extra, misshaped;
  for (const auto& [name, shape] : expected) {
    const WeightTensor* t = files.find(name);
    if (!t)
      missing.push_back(name);
    else if (!(t->shape() == shape))
      misshaped.push_back(name + " is " + t->shape().str() + ", expected " + shape.str());
  }
  for (const WeightTensor& t : files.tensors())
    if (!expected.count(t.name()) && !(ignored && ignored(t.name()))) extra.push_back(t.name());
  if (missing.empty() && extra.empty() && misshaped.empty()) return;
  std::string message = what + ":";
  const auto list = [&](const char* kind, const std::vector<std::string>& names) {
    if (names.empty()) return;
    message += "\n  " + std::to_string(names.size()) + " " + kind + ":";
    for (const std::string& n : names) message += "\n    " + n;
  };
  list("missing", missing);
  list("unexpected", extra);
  list("mis-shaped", misshaped);
  throw FormatError(message);
}

}  // namespace vramkit
