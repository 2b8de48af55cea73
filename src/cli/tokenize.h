// `vramkit tokenize --model DIR [--template] TEXT`: the Qwen2 token ids of TEXT as one JSON array on stdout.
// DIR is a model folder (its tokenizer/ is used) or a tokenizer folder itself (tokenizer.json, or vocab.json +
// merges.txt with the added tokens). --template wraps TEXT in the Qwen-Image prompt template first and prints
// the ids the text encoder runs on (models/qwen_image/prompt.h: truncated to 1024 + 34 tokens as the reference
// tokenizer call does; the first 34 are the system prefix the pipeline drops after encoding).
#pragma once

#include <ostream>
#include <string>

namespace CLI {
class App;
}

namespace vramkit::cli {

struct TokenizeArguments {
  std::string model;
  std::string text;
  bool prompt_template = false;
};

void add_tokenize_arguments(CLI::App& command, TokenizeArguments& args);
void run_tokenize(const TokenizeArguments& args, std::ostream& out);

}  // namespace vramkit::cli
