// What every command that runs a model reports about the VRAM manager when it ends: the telemetry as JSON
// (peak device bytes, bytes per tier, time the computation waited for copies), printed on stderr or written
// with --stats FILE.json.
#pragma once

#include <ostream>
#include <string>

#include "vram/manager.h"

namespace CLI {
class App;
}

namespace vramkit::cli {

struct ReportArguments {
  std::string stats;  // --stats FILE.json; empty: print on stderr
};

void add_report_arguments(CLI::App& command, ReportArguments& args);
// Writes the manager's telemetry where the arguments say; `elapsed_seconds` is the command's run time.
void write_report(const ReportArguments& args, VramManager& manager, double elapsed_seconds,
                  std::ostream& err);

}  // namespace vramkit::cli
