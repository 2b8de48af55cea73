#include "cli/bench_modes.h"

#include <algorithm>
#include <sstream>

#include "vramkit/error.h"

namespace vramkit::cli {

const std::vector<BenchMode>& bench_modes() {
  static const std::vector<BenchMode> modes{{"basic", "none", "", std::nullopt, false},
                                            {"fp8", "fp8", "", std::nullopt, false},
                                            {"stream-bf16", "dynamic", "bf16", 0.0, false},
                                            {"stream-fp8", "dynamic", "fp8", 0.0, false},
                                            {"dynamic-25", "dynamic", "fp8", 0.25, false},
                                            {"dynamic-50", "dynamic", "fp8", 0.5, false},
                                            {"dynamic-75", "dynamic", "fp8", 0.75, false},
                                            {"disk-warm", "disk", "", 0.0, false},
                                            {"disk-cold", "disk", "", 0.0, true},
                                            {"fp8-gemm", "fp8", "", std::nullopt, false, true},
                                            {"stream-fp8-gemm", "dynamic", "fp8", 0.0, false, true}};
  return modes;
}

std::vector<BenchMode> parse_bench_modes(const std::string& list) {
  if (list.empty()) return bench_modes();
  std::vector<BenchMode> picked;
  std::stringstream in(list);
  for (std::string name; std::getline(in, name, ',');) {
    const auto& all = bench_modes();
    const auto it = std::find_if(all.begin(), all.end(), [&](const BenchMode& m) { return m.name == name; });
    if (it == all.end()) {
      std::string known;
      for (const auto& m : all) known += (known.empty() ? "" : ", ") + m.name;
      throw ArgumentError("--modes: '" + name + "' is not a mode (" + known + ")");
    }
    if (std::any_of(picked.begin(), picked.end(), [&](const BenchMode& m) { return m.name == name; }))
      throw ArgumentError("--modes: '" + name + "' is given twice");
    picked.push_back(*it);
  }
  return picked;
}

}  // namespace vramkit::cli
