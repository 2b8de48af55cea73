#include "cli/bench_modes.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <optional>
#include <sstream>
#include <string>

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

namespace {

// limit-G[-bf16|-fp8-gemm], or nullopt for a name not starting with limit-. ArgumentError for any other
// limit- name.
std::optional<BenchMode> parse_limit_mode(const std::string& name) {
  const std::string prefix = "limit-";
  if (name.rfind(prefix, 0) != 0) return std::nullopt;
  const std::string rest = name.substr(prefix.size());
  const std::size_t dash = rest.find('-');
  const std::string number = rest.substr(0, dash),
                    suffix = dash == std::string::npos ? "" : rest.substr(dash);
  BenchMode mode{name, "dynamic", "fp8", std::nullopt};
  mode.storage_dtype = suffix == "-bf16" ? "bf16" : "fp8";
  mode.native_fp8_gemm = suffix == "-fp8-gemm";
  std::size_t used = 0;
  double gib = -1;
  try {
    gib = std::stod(number, &used);
  } catch (const std::exception&) {
  }
  const bool known_suffix = suffix.empty() || suffix == "-bf16" || suffix == "-fp8-gemm";
  if (!known_suffix || number.empty() || used != number.size() || !(gib >= 0) || !std::isfinite(gib))
    throw ArgumentError("--modes: '" + name + "' needs a vram_limit in GiB >= 0 (limit-4, limit-4-bf16, " +
                        "limit-4-fp8-gemm)");
  mode.limit_gib = gib;
  return mode;
}

}  // namespace

std::vector<BenchMode> parse_bench_modes(const std::string& list) {
  if (list.empty()) return bench_modes();
  std::vector<BenchMode> picked;
  std::stringstream in(list);
  for (std::string name; std::getline(in, name, ',');) {
    const auto& all = bench_modes();
    const auto it = std::find_if(all.begin(), all.end(), [&](const BenchMode& m) { return m.name == name; });
    const std::optional<BenchMode> limited = parse_limit_mode(name);
    if (it == all.end() && !limited) {
      std::string known;
      for (const auto& m : all) known += (known.empty() ? "" : ", ") + m.name;
      throw ArgumentError("--modes: '" + name + "' is not a mode (" + known + ", limit-G[-bf16|-fp8-gemm])");
    }
    if (std::any_of(picked.begin(), picked.end(), [&](const BenchMode& m) { return m.name == name; }))
      throw ArgumentError("--modes: '" + name + "' is given twice");
    picked.push_back(limited ? *limited : *it);
  }
  return picked;
}

}  // namespace vramkit::cli
