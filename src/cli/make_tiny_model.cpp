#include "cli/make_tiny_model.h"

#include <CLI/CLI.hpp>

#include "models/qwen_image/tiny_model.h"
#include "vramkit/error.h"

namespace vramkit::cli {

void add_make_tiny_model_arguments(CLI::App& command, MakeTinyModelArguments& args) {
  command.add_option("output", args.output, "the folder to write (created if needed; existing files are overwritten)");
  command.add_flag("--list-full-size", args.list_full_size,
                   "print the full-size model's tensor names and shapes instead, write nothing");
}

void run_make_tiny_model(const MakeTinyModelArguments& args, std::ostream& out) {
  if (args.list_full_size) {
    qwen_image::list_full_size_tensors(out);
    return;
  }
  if (args.output.empty()) throw ArgumentError("make-tiny-model: give the folder to write");
  qwen_image::write_tiny_qwen_image(args.output);
}

}  // namespace vramkit::cli
