// `vramkit tokenize`; see tokenize.h.
#include "cli/tokenize.h"

#include <CLI/CLI.hpp>
#include <filesystem>

#include "io/model_folder.h"
#include "models/qwen_image/prompt.h"
#include "models/qwen_image/tokenizer.h"
#include "vramkit/error.h"

namespace vramkit::cli {

void add_tokenize_arguments(CLI::App& command, TokenizeArguments& args) {
  command.add_option("--model", args.model, "a model folder (its tokenizer/ is used) or a tokenizer folder")
      ->required();
  command.add_flag("--template", args.prompt_template,
                   "wrap the text in the Qwen-Image prompt template first (the ids the text encoder runs on)");
  command.add_option("text", args.text, "the text to tokenize (UTF-8)")->required();
}

void run_tokenize(const TokenizeArguments& args, std::ostream& out) {
  std::filesystem::path folder = args.model;
  if (ModelFolder::is_model_folder(folder)) {
    folder /= "tokenizer";
    if (!std::filesystem::is_directory(folder))
      throw ArgumentError("model folder '" + args.model + "' has no tokenizer/ folder");
  }
  const Qwen2Tokenizer tokenizer = Qwen2Tokenizer::from_directory(folder);
  const std::vector<std::int32_t> ids =
      args.prompt_template ? qwen_image_prompt_ids(tokenizer, args.text) : tokenizer.encode(args.text);
  out << "[";
  for (std::size_t i = 0; i < ids.size(); ++i) out << (i ? "," : "") << ids[i];
  out << "]\n";
}

}  // namespace vramkit::cli
