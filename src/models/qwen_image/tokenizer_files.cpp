// Loading the Qwen2 tokenizer from its files: Hugging Face tokenizer.json, or the slow-tokenizer folder
// layout (vocab.json, merges.txt, tokenizer_config.json / added_tokens.json). tokenizer.json is checked to
// describe exactly the pipeline this tokenizer implements (NFC, Qwen2 Split + ByteLevel, plain byte-level
// BPE), so that a different tokenizer is refused instead of being encoded wrongly.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "models/qwen_image/pretokenize.h"
#include "models/qwen_image/tokenizer.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_text_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError("tokenizer: cannot open " + file.string() + ": " + std::strerror(errno));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) throw IoError("tokenizer: cannot read " + file.string());
  return content.str();
}

json parse_json_file(const fs::path& file) {
  const std::string text = read_text_file(file);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw FormatError(file.string() + ": not valid JSON: " + e.what());
  }
}

void require(bool condition, const fs::path& file, const std::string& what) {
  if (!condition) throw FormatError(file.string() + ": unsupported tokenizer: " + what);
}

std::string type_of(const json& node) {
  return node.is_object() && node.contains("type") && node["type"].is_string()
             ? node["type"].get<std::string>()
             : std::string("(none)");
}

// NFC, or no normalizer at all.
void check_normalizer(const json& root, const fs::path& file) {
  const json& normalizer = root.value("normalizer", json());
  require(normalizer.is_null() || type_of(normalizer) == "NFC", file,
          "normalizer must be NFC, not " + type_of(normalizer));
}

void check_byte_level(const json& node, const fs::path& file) {
  require(type_of(node) == "ByteLevel", file, "expected a ByteLevel pre-tokenizer, found " + type_of(node));
  require(!node.value("add_prefix_space", false) && !node.value("use_regex", true), file,
          "ByteLevel must have add_prefix_space=false and use_regex=false");
}

void check_pre_tokenizer(const json& root, const fs::path& file) {
  const json& pre = root.value("pre_tokenizer", json());
  require(type_of(pre) == "Sequence" && pre.contains("pretokenizers") && pre["pretokenizers"].is_array() &&
              pre["pretokenizers"].size() == 2,
          file, "pre_tokenizer must be a Sequence of Split and ByteLevel");
  const json& split = pre["pretokenizers"][0];
  require(type_of(split) == "Split", file, "first pre-tokenizer must be Split, not " + type_of(split));
  const std::string pattern = split.value("pattern", json::object()).value("Regex", std::string());
  require(pattern == kQwen2SplitPattern, file, "Split pattern is not the Qwen2 pattern: " + pattern);
  require(split.value("behavior", std::string()) == "Isolated" && !split.value("invert", false), file,
          "Split must be behavior Isolated, invert false");
  check_byte_level(pre["pretokenizers"][1], file);
}

std::vector<Qwen2Tokenizer::Token> read_vocab(const json& vocab, const fs::path& file) {
  require(vocab.is_object(), file, "vocab must be an object of token -> id");
  std::vector<Qwen2Tokenizer::Token> tokens;
  tokens.reserve(vocab.size());
  for (const auto& [text, id] : vocab.items()) {
    if (!id.is_number_integer())
      throw FormatError(file.string() + ": id of token '" + text + "' is not an integer");
    tokens.push_back({text, id.get<std::int32_t>()});
  }
  return tokens;
}

std::pair<std::string, std::string> split_merge_line(const std::string& line, const fs::path& file,
                                                     std::size_t index) {
  const std::size_t space = line.find(' ');
  if (space == std::string::npos || space == 0 || space + 1 >= line.size() ||
      line.find(' ', space + 1) != std::string::npos) {
    throw FormatError(file.string() + ": merge " + std::to_string(index) + " is not two tokens: '" + line +
                      "'");
  }
  return {line.substr(0, space), line.substr(space + 1)};
}

std::vector<std::pair<std::string, std::string>> read_merges(const json& merges, const fs::path& file) {
  require(merges.is_array(), file, "merges must be an array");
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    if (m.is_string()) {
      out.push_back(split_merge_line(m.get<std::string>(), file, i));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      throw FormatError(file.string() + ": merge " + std::to_string(i) + " is neither \"a b\" nor [a, b]");
    }
  }
  return out;
}

std::vector<Qwen2Tokenizer::Token> read_added_tokens(const json& added, const fs::path& file) {
  require(added.is_array(), file, "added_tokens must be an array");
  std::vector<Qwen2Tokenizer::Token> tokens;
  for (const json& t : added) {
    require(t.is_object() && t.contains("content") && t.contains("id"), file,
            "added token without content or id");
    // The matcher treats every added token as a literal, unnormalized, unstripped string.
    require(
        !t.value("lstrip", false) && !t.value("rstrip", false) && !t.value("single_word", false) &&
            !t.value("normalized", false),
        file,
        "added token '" + t["content"].get<std::string>() + "' uses lstrip/rstrip/single_word/normalized");
    tokens.push_back({t["content"].get<std::string>(), t["id"].get<std::int32_t>()});
  }
  return tokens;
}

}  // namespace

Qwen2Tokenizer Qwen2Tokenizer::from_tokenizer_json(const fs::path& file) {
  const json root = parse_json_file(file);
  try {
    require(root.is_object() && root.contains("model"), file, "no \"model\" section");
    const json& model = root["model"];
    require(type_of(model) == "BPE", file, "model type must be BPE, not " + type_of(model));
    const auto empty_or_null = [&](const char* key) {
      const json value = model.value(key, json());
      return value.is_null() || value == "";
    };
    require(
        !model.value("byte_fallback", false) && !model.value("ignore_merges", false) &&
            empty_or_null("continuing_subword_prefix") && empty_or_null("end_of_word_suffix"),
        file,
        "BPE byte_fallback, ignore_merges, continuing_subword_prefix, end_of_word_suffix are not supported");
    require(model.value("dropout", json()).is_null(), file, "BPE dropout is not supported");
    check_normalizer(root, file);
    check_pre_tokenizer(root, file);
    check_byte_level(root.value("decoder", json()), file);
    return Qwen2Tokenizer(read_vocab(model.at("vocab"), file), read_merges(model.at("merges"), file),
                          read_added_tokens(root.value("added_tokens", json::array()), file), file.string());
  } catch (const json::exception& e) {
    throw FormatError(file.string() + ": unexpected tokenizer.json structure: " + e.what());
  }
}

Qwen2Tokenizer Qwen2Tokenizer::from_directory(const fs::path& dir) {
  if (fs::exists(dir / "tokenizer.json")) return from_tokenizer_json(dir / "tokenizer.json");
  const fs::path vocab_file = dir / "vocab.json";
  const fs::path merges_file = dir / "merges.txt";
  const std::vector<Token> vocab = read_vocab(parse_json_file(vocab_file), vocab_file);

  std::vector<std::pair<std::string, std::string>> merges;
  std::istringstream lines(read_text_file(merges_file));
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.starts_with("#version")) continue;
    merges.push_back(split_merge_line(line, merges_file, merges.size()));
  }

  std::vector<Token> added;
  const fs::path config_file = dir / "tokenizer_config.json";
  const fs::path added_file = dir / "added_tokens.json";
  try {
    if (fs::exists(config_file)) {
      const json config = parse_json_file(config_file);
      const json decoder = config.value("added_tokens_decoder", json::object());
      for (const auto& [id, entry] : decoder.items()) {
        added.push_back({entry.at("content").get<std::string>(), std::stoi(id)});
      }
    } else if (fs::exists(added_file)) {
      const json tokens = parse_json_file(added_file);
      for (const auto& [text, id] : tokens.items()) added.push_back({text, id.get<std::int32_t>()});
    }
  } catch (const std::exception& e) {  // json type errors and std::stoi on a non-numeric key
    throw FormatError(dir.string() +
                      ": bad added tokens in tokenizer_config.json / added_tokens.json: " + e.what());
  }
  return Qwen2Tokenizer(vocab, merges, added, vocab_file.string() + " + " + merges_file.string());
}

}  // namespace vramkit
