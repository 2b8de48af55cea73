// `vramkit generate`: a PNG from a prompt under a VRAM budget, through the pipeline API (vramkit/pipeline.h):
// a progress bar per stage on stderr (step i/N, s/it, ETA, GB streamed, device peak; --quiet turns it off), a
// summary at the end, the generation parameters in the PNG's text chunks.
#pragma once

#include <ostream>
#include <string>

#include "cli/run_report.h"
#include "cli/vram_options.h"
#include "vramkit/pipeline.h"

namespace CLI {
class App;
}

namespace vramkit::cli {

struct GenerateArguments {
  std::string model;
  VramArguments vram;
  GenerateOptions options;
  std::string negative_prompt = " ";
  bool no_negative = false;
  std::string cfg_renorm = "on";
  std::string out = "output.png";
  ReportArguments report;
  bool quiet = false;
};

void add_generate_arguments(CLI::App& command, GenerateArguments& args);
void run_generate(GenerateArguments args, std::ostream& err);

}  // namespace vramkit::cli
