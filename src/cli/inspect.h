// `vramkit inspect PATH...`: lists the tensors of safetensors files, shard indexes, component folders and
// diffusers model folders (every component) with dtype, shape and bytes, and totals per component and dtype.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace vramkit::cli {

struct InspectOptions {
  std::vector<std::string> paths;
  std::string pattern;  // when set, every PATH is a folder and this DiffSynth-style pattern selects its files
  bool json = false;
};

// Declares the subcommand's arguments on `command`, storing them in `options`.
void add_inspect_arguments(CLI::App& command, InspectOptions& options);

// Writes the report to `out`. Throws vramkit::Error subclasses for unreadable or invalid inputs.
void run_inspect(const InspectOptions& options, std::ostream& out);

}  // namespace vramkit::cli
