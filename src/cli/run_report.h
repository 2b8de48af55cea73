// What every command that runs a model reports about the VRAM manager when it ends: the telemetry as JSON
// (peak device bytes, bytes per tier, time the computation waited for copies), printed on stderr or written
// with --stats FILE.json; and with --trace FILE.json a Chrome trace of the compute and copy streams and the
// disk readers (open it in chrome://tracing or ui.perfetto.dev).
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
  std::string trace;  // --trace FILE.json; empty: no trace
};

void add_report_arguments(CLI::App& command, ReportArguments& args);
// Turns on what the arguments ask the manager to record.
void apply_report_arguments(const ReportArguments& args, ManagerOptions& options);
// Writes the manager's telemetry where the arguments say; `elapsed_seconds` is the command's run time.
void write_report(const ReportArguments& args, VramManager& manager, double elapsed_seconds,
                  std::ostream& err);

}  // namespace vramkit::cli
