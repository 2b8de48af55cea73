// `vramkit make-test-model --arch qwen-image --layers N --out DIR [--text-layers M] [--dtype bf16|fp8]
// [--seed S]`: a random-weight model with the released architecture's full-size shapes, cut to N DiT blocks
// (and M text encoder layers, default min(N, 28)), in the real diffusers folder layout, written streamed
// (models/qwen_image/model_writer.h): anyone can benchmark the real block shapes without downloading 57 GB.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace CLI {
class App;
}

namespace vramkit::cli {

struct MakeTestModelArguments {
  std::string arch;
  std::int64_t layers = 0;
  std::int64_t text_layers = -1;  // -1: min(layers, 28)
  std::string out;
  std::string dtype = "bf16";
  std::uint64_t seed = 0;
};

void add_make_test_model_arguments(CLI::App& command, MakeTestModelArguments& args);
// Writes the model and prints one line per component with its size on `out`.
void run_make_test_model(const MakeTestModelArguments& args, std::ostream& out);

}  // namespace vramkit::cli
