// `vramkit bench --model DIR [--width W --height H] [--text-tokens L] [--cfg S] [--modes LIST] [--repeat N]
// [--json FILE] [--device D] [--vram-config FILE] [--ring-slots N]`: the Qwen-Image transformer of a model
// folder run in each memory mode (bench_modes.h) on random inputs of that resolution, measured against the
// ceilings of the same machine (bench_ceilings.h). docs/benchmarks.md explains every column.
//
// Per mode: the median time of `repeat` DiT forwards after one warm-up (the batch of 2 when --cfg > 1, as
// true CFG runs both branches in one batch), with the timestep modulation precomputed as the pipeline does;
// the device arena's peak (and on cuda the driver's used memory); bytes moved per forward from disk and to
// the device, measured and as the plan predicts; the achieved host -> device rate; the time the computation
// waited for copies; and ratio = time / max(resident compute time, bytes / measured pinned H2D rate, disk
// bytes / measured disk rate).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "cli/vram_options.h"

namespace CLI {
class App;
}

namespace vramkit::cli {

struct BenchArguments {
  std::string model;
  std::int64_t width = 256;
  std::int64_t height = 256;
  std::int64_t text_tokens = 128;
  double cfg = 1.0;
  std::string modes;  // comma-separated; empty: all
  int repeat = 5;
  std::string json;  // --json FILE
  VramArguments vram;  // the device and streaming options; each mode sets offload, storage dtype and limit
};

void add_bench_arguments(CLI::App& command, BenchArguments& args);
// Prints the table on `out` (and writes the JSON file when asked).
void run_bench(const BenchArguments& args, std::ostream& out);

}  // namespace vramkit::cli
