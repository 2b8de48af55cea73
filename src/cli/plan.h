// `vramkit plan`: what the VRAM manager would do under the given VRAM options, without running anything: for
// each model, every unit's state (resident or streamed), dtype and bytes, the device memory it needs, and the
// bytes (and, given bandwidths, seconds) moved per forward.
//   vramkit plan --model DIR [--width --height --steps --cfg --prompt]   a Qwen-Image generation as `generate`
//       runs it: the models it onloads stage by stage, each with the activation workspace of these sizes
//   vramkit plan PATH [--component NAME] [--workspace GiB]   any safetensors model, one unit per leaf module
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "cli/vram_options.h"
#include "vramkit/pipeline.h"

namespace CLI {
class App;
}

namespace vramkit::cli {

struct PlanArguments {
  std::string path;   // a folder or file planned unit by unit (every leaf module a unit)
  std::string model;  // or --model: a Qwen-Image folder (or builtin:tiny) planned as `generate` runs it
  // The generation planned (size, steps, cfg, vae tiling); its prompt, when given, sets the text lengths,
  // else the longest text (text_tokens) is planned for.
  GenerateOptions options;
  int text_tokens = 0;  // 0: options.max_sequence_length
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
