// `vramkit plan PATH`: what the VRAM manager would do with a model under the given VRAM options, without
// running it: for each component, every unit's state (resident or streamed), dtype and bytes, the device
// memory it needs, and the bytes (and, given bandwidths, seconds) moved per forward.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "cli/vram_options.h"

namespace CLI {
class App;
}

namespace vramkit::cli {

struct PlanArguments {
  std::string path;
  std::vector<std::string> components;  // empty: every component with weights
  VramArguments vram;
  double workspace_gib = 0;
  double h2d_gbps = 0;
  double disk_gbps = 0;
  bool summary = false;
  bool json = false;
};

void add_plan_arguments(CLI::App& command, PlanArguments& args);
void run_plan(const PlanArguments& args, std::ostream& out);

}  // namespace vramkit::cli
