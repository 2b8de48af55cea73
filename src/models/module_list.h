// A model's leaf modules as data: each module's tensors with their expected shapes, in the order the forward
// pass uses them. One list serves three purposes: the VRAM manager's units (one per module, in execution
// order), the parameter count, and the validation of a checkpoint before anything is allocated.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/shape.h"
#include "io/model_files.h"
#include "vram/unit_layout.h"

namespace vramkit {

struct ExpectedTensor {
  std::string name;
  Shape shape;
};

// One leaf module: a managed unit.
struct ModuleSpec {
  std::string name;  // "transformer_blocks.3.attn.to_q"
  std::vector<ExpectedTensor> tensors;
};

// Builds a module list in execution order with PyTorch's parameter names and shapes.
class ModuleListBuilder {
 public:
  // nn.Linear(in, out): name.weight [out, in], name.bias [out].
  void linear(const std::string& name, std::int64_t out, std::int64_t in);
  // nn.Linear(in, out, bias=False): name.weight [out, in].
  void linear_without_bias(const std::string& name, std::int64_t out, std::int64_t in);
  // A norm with a weight and no bias (RMSNorm): name.weight [dim].
  void norm(const std::string& name, std::int64_t dim);
  // nn.Embedding(rows, dim): name.weight [rows, dim].
  void embedding(const std::string& name, std::int64_t rows, std::int64_t dim);
  std::vector<ModuleSpec> take() { return std::move(modules_); }

 private:
  std::vector<ModuleSpec> modules_;
};

std::vector<UnitSpec> units_of(const std::vector<ModuleSpec>& modules);
// Block-level units: consecutive units named "<prefix><marker><index>.<rest>" (e.g. marker "transformer_blocks.",
// "transformer_blocks.3.attn.to_q") become one unit named "<prefix><marker><index>" holding all their tensors;
// the others stay as they are. UnitCursor serves a block unit's leaves from one lease.
std::vector<UnitSpec> group_block_units(const std::vector<UnitSpec>& units, std::string_view marker);
std::int64_t parameter_count(const std::vector<ModuleSpec>& modules);

// Throws FormatError when `files` does not hold exactly the modules' tensors with their shapes, listing every
// missing, unexpected and mis-shaped tensor in one message that starts with `what` ("Qwen-Image transformer
// weights in x.safetensors do not match its config (...)"). Tensors for which `ignored` returns true (parts of
// the checkpoint the model never loads) are neither expected nor unexpected.
void validate_module_weights(const std::vector<ModuleSpec>& modules, const WeightFiles& files,
                             const std::string& what,
                             const std::function<bool(std::string_view)>& ignored = nullptr);

}  // namespace vramkit
