#include "cli/run_report.h"

#include <CLI/CLI.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "vramkit/error.h"

namespace vramkit::cli {

void add_report_arguments(CLI::App& command, ReportArguments& args) {
  command.add_option("--stats", args.stats, "write the VRAM telemetry as JSON to this file instead of stderr");
  command.add_option("--trace", args.trace, "write a Chrome trace (JSON) of the compute and copy streams");
}

void apply_report_arguments(const ReportArguments& args, ManagerOptions& options) {
  options.trace = !args.trace.empty();
}

void write_report(const ReportArguments& args, VramManager& manager, double elapsed_seconds,
                  std::ostream& err) {
  if (TraceRecorder* trace = manager.trace()) {
    manager.h2d_stream().synchronize();
    manager.accelerator().compute_stream().synchronize();
    trace->write(args.trace);
  }
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(manager.snapshot().json());
  j["device"] = manager.accelerator().device().str();
  j["elapsed_seconds"] = elapsed_seconds;
  if (args.stats.empty()) {
    err << "vramkit: telemetry " << j.dump() << "\n";
    return;
  }
  std::ofstream out(args.stats);
  out << j.dump(2) << "\n";
  out.close();
  if (!out) throw IoError("--stats: cannot write " + args.stats);
}

}  // namespace vramkit::cli
