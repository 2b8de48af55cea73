// `vramkit make-tiny-model DIR`: writes the tiny random-weight Qwen-Image model (models/qwen_image/tiny_model.h)
// in the real folder layout, the same model `--model builtin:tiny` runs; `--list-full-size` prints the
// full-size model's tensor names and shapes instead.
#pragma once

#include <ostream>
#include <string>

namespace CLI {
class App;
}

namespace vramkit::cli {

struct MakeTinyModelArguments {
  std::string output;
  bool list_full_size = false;
};

void add_make_tiny_model_arguments(CLI::App& command, MakeTinyModelArguments& args);
void run_make_tiny_model(const MakeTinyModelArguments& args, std::ostream& out);

}  // namespace vramkit::cli
