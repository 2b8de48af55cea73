// Qwen2 tokenizer: exact ids against Hugging Face `tokenizers` on the real vocabulary
// (tests/data/tokenizer/goldens.json, made by tools/golden/make_tokenizer_goldens.py), decode back to the
// normalized text, the vocab.json + merges.txt loader against the tokenizer.json one, the Qwen-Image prompt
// template, the split pattern on Unicode whitespace, and the error paths on small hand-made files.
// Tests needing the real vocabulary (../shared/data/qwen_tokenizer beside the clone) are skipped without it.
#include "models/qwen_image/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "models/qwen_image/pretokenize.h"
#include "models/qwen_image/prompt.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kVocabDir = VRAMKIT_QWEN_TOKENIZER_DIR;
const fs::path kGoldens = fs::path(VRAMKIT_TEST_DATA) / "tokenizer" / "goldens.json";

json read_json(const fs::path& file) {
  std::ifstream in(file);
  return json::parse(in);
}

void write_file(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary);
  out << text;
}

// The real tokenizer, loaded once for the whole suite (the file is 7 MB).
const Qwen2Tokenizer& real_tokenizer() {
  static const Qwen2Tokenizer tokenizer = Qwen2Tokenizer::from_tokenizer_json(kVocabDir / "tokenizer.json");
  return tokenizer;
}

class RealVocabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kVocabDir / "tokenizer.json")) GTEST_SKIP() << "no vocabulary at " << kVocabDir;
  }
};

void expect_goldens(const Qwen2Tokenizer& tokenizer) {
  const json goldens = read_json(kGoldens);
  ASSERT_GE(goldens.size(), 40u);
  for (const json& golden : goldens) {
    const std::string text = golden["text"];
    const std::vector<std::int32_t> expected = golden["ids"];
    const std::vector<std::int32_t> ids = tokenizer.encode(text);
    EXPECT_EQ(ids, expected) << "text: " << text;
    EXPECT_EQ(tokenizer.decode(ids), golden["decoded"].get<std::string>()) << "text: " << text;
  }
}

TEST_F(RealVocabTest, MatchesReferenceIdsAndDecodes) {
  expect_goldens(real_tokenizer());
}

TEST_F(RealVocabTest, DecodeGivesBackNormalizedText) {
  const Qwen2Tokenizer& tok = real_tokenizer();
  for (const std::string text : {"Hello  world\n\n\tx", "通义千问 😀👨‍👩‍👧 ﬁ",
                                 "<|im_start|>a<|im_end|>", "e\u0301"}) {
    EXPECT_EQ(tok.decode(tok.encode(text)), nfc_normalize(text)) << text;
  }
  EXPECT_EQ(nfc_normalize("e\u0301"), "\u00e9");
}

TEST_F(RealVocabTest, SpecialTokenIds) {
  const Qwen2Tokenizer& tok = real_tokenizer();
  EXPECT_EQ(tok.token_id("<|endoftext|>"), 151643);
  EXPECT_EQ(tok.token_id("<|im_start|>"), 151644);
  EXPECT_EQ(tok.token_id("<|im_end|>"), 151645);
  EXPECT_EQ(tok.token_id("<|vision_start|>"), 151652);
  EXPECT_EQ(tok.token_id("<|image_pad|>"), 151655);
  EXPECT_EQ(tok.encode("<|im_end|>"), std::vector<std::int32_t>{151645});
  EXPECT_FALSE(tok.token_id("<|no_such_token|>").has_value());
  EXPECT_THROW(tok.decode(std::vector<std::int32_t>{-1}), ArgumentError);
  EXPECT_THROW(tok.decode(std::vector<std::int32_t>{static_cast<std::int32_t>(tok.size())}), ArgumentError);
  EXPECT_THROW(tok.encode("bad \xff byte"), ArgumentError);
}

// The Qwen-Image template: reference ids, the 34 dropped tokens, the 5 suffix tokens and the length cap.
TEST_F(RealVocabTest, QwenImagePromptTemplate) {
  const Qwen2Tokenizer& tok = real_tokenizer();
  const std::string prompt = "A cat sitting on a windowsill, watercolor style.";
  bool found = false;
  for (const json& golden : read_json(kGoldens)) {
    if (golden["text"] == qwen_image_prompt_text(prompt)) {
      EXPECT_EQ(qwen_image_prompt_ids(tok, prompt), golden["ids"].get<std::vector<std::int32_t>>());
      found = true;
    }
  }
  EXPECT_TRUE(found) << "the goldens lack the templated prompt";

  const std::vector<std::int32_t> ids = qwen_image_prompt_ids(tok, prompt);
  const std::vector<std::int32_t> prompt_ids = tok.encode(prompt);
  ASSERT_EQ(ids.size(), kQwenImagePromptDropTokens + prompt_ids.size() + 5);
  EXPECT_EQ(ids[0], 151644);
  EXPECT_EQ(tok.decode(std::span(ids).subspan(kQwenImagePromptDropTokens - 2, 2)), "user\n");
  EXPECT_EQ(std::vector<std::int32_t>(ids.begin() + kQwenImagePromptDropTokens, ids.end() - 5), prompt_ids);
  EXPECT_EQ(tok.decode(std::span(ids).last(5)), "<|im_end|>\n<|im_start|>assistant\n");

  std::string long_prompt;
  for (int i = 0; i < 1500; ++i) long_prompt += " cat";
  const std::vector<std::int32_t> capped = qwen_image_prompt_ids(tok, long_prompt);
  EXPECT_EQ(capped.size(), kQwenImageMaxPromptTokens + kQwenImagePromptDropTokens);
  EXPECT_EQ(capped.back(), tok.encode(" cat")[0]);
}

// A fresh folder under the system temp dir, removed with the fixture.
class TokenizerFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vramkit_tokenizer_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// Qwen-Image's own tokenizer/ folder layout, written from the real tokenizer.json, gives the same ids.
TEST_F(TokenizerFilesTest, SlowTokenizerFilesMatchTokenizerJson) {
  if (!fs::exists(kVocabDir / "tokenizer.json")) GTEST_SKIP() << "no vocabulary at " << kVocabDir;
  const json root = read_json(kVocabDir / "tokenizer.json");
  write_file(dir_ / "vocab.json", root["model"]["vocab"].dump());
  std::string merges = "#version: 0.2\n";
  for (const json& m : root["model"]["merges"]) {
    merges += m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>();
    merges += "\n";
  }
  write_file(dir_ / "merges.txt", merges);
  json decoder = json::object();
  for (const json& t : root["added_tokens"]) {
    json entry = json::object();
    entry["content"] = t["content"];
    decoder[std::to_string(t["id"].get<int>())] = entry;
  }
  json config = json::object();
  config["added_tokens_decoder"] = decoder;
  write_file(dir_ / "tokenizer_config.json", config.dump());
  expect_goldens(Qwen2Tokenizer::from_directory(dir_));
}

// Pieces of the split pattern on Unicode whitespace (expected from tokenizers' pre_tokenize_str).
TEST(Qwen2Split, UnicodeWhitespaceAndContractions) {
  const auto pieces = [](const std::string& text) {
    std::vector<std::string> out;
    for (const TextPiece& p : split_qwen2_pieces(text)) out.push_back(text.substr(p.begin, p.end - p.begin));
    return out;
  };
  EXPECT_EQ(pieces("a\u00a0\u00a0b \u3000c\u2003 d"),
            (std::vector<std::string>{"a", "\u00a0", "\u00a0b", " ", "\u3000c", "\u2003", " d"}));
  EXPECT_EQ(pieces("it'\u017f x"), (std::vector<std::string>{"it", "'\u017f", " x"}));
  EXPECT_EQ(pieces("IT'S"), (std::vector<std::string>{"IT", "'S"}));
  EXPECT_EQ(pieces("x  \n\n y!!\n\n12"), (std::vector<std::string>{"x", "  \n\n", " y", "!!\n\n", "1", "2"}));
  EXPECT_TRUE(pieces("").empty());
}

// A tiny valid tokenizer.json: the 256 byte symbols, merges "a b" -> "ab" and "ab c" -> "abc", one added
// token.
json tiny_tokenizer() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) {
    std::string utf8;
    const char32_t c = byte_to_unicode(static_cast<std::uint8_t>(b));
    if (c < 0x80) {
      utf8 += static_cast<char>(c);
    } else {
      utf8 += static_cast<char>(0xC0 | (c >> 6));
      utf8 += static_cast<char>(0x80 | (c & 0x3F));
    }
    vocab[utf8] = b;
  }
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  return {{"normalizer", {{"type", "NFC"}}},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"},
               {"pattern", {{"Regex", std::string(kQwen2SplitPattern)}}},
               {"behavior", "Isolated"},
               {"invert", false}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}},
          {"added_tokens", {{{"id", 300}, {"content", "<|x|>"}, {"special", true}}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b", json::array({"ab", "c"})}}}}};
}

TEST_F(TokenizerFilesTest, TinyTokenizerEncodesWithMergeRanks) {
  write_file(dir_ / "tokenizer.json", tiny_tokenizer().dump());
  const Qwen2Tokenizer tok = Qwen2Tokenizer::from_directory(dir_);
  EXPECT_EQ(tok.encode("abcab<|x|>ba"), (std::vector<std::int32_t>{257, 256, 300, 'b', 'a'}));
  EXPECT_EQ(tok.encode(" ab"), (std::vector<std::int32_t>{' ', 256}));
  EXPECT_EQ(tok.decode(tok.encode("abc <|x|>\xc3\xa9")), "abc <|x|>\xc3\xa9");
  EXPECT_EQ(tok.size(), 301u);
}

// Each malformed file is refused with a typed error naming the file.
TEST_F(TokenizerFilesTest, MalformedFilesAreRefused) {
  const fs::path file = dir_ / "tokenizer.json";
  const auto expect_error = [&](auto make, const std::string& what) {
    try {
      make();
      ADD_FAILURE() << "no error for " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    }
  };
  const auto load = [&] { return Qwen2Tokenizer::from_tokenizer_json(file); };
  EXPECT_THROW(load(), IoError);  // missing
  expect_error(load, "a missing file");

  write_file(file, "{\"model\": ");
  EXPECT_THROW(load(), FormatError);
  expect_error(load, "truncated JSON");

  const auto expect_refused = [&](const std::function<void(json&)>& damage, const std::string& what) {
    json root = tiny_tokenizer();
    damage(root);
    write_file(file, root.dump());
    EXPECT_THROW(load(), FormatError) << what;
    expect_error(load, what);
  };
  expect_refused([](json& r) { r["model"]["type"] = "WordPiece"; }, "another model type");
  expect_refused([](json& r) { r["normalizer"] = {{"type", "NFKC"}}; }, "another normalizer");
  expect_refused([](json& r) { r["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+"; },
                 "another split pattern");
  expect_refused([](json& r) { r["pre_tokenizer"] = {{"type", "Whitespace"}}; }, "another pre-tokenizer");
  expect_refused([](json& r) { r["model"]["merges"].push_back("a zz"); }, "a merge of an unknown token");
  expect_refused([](json& r) { r["model"]["merges"].push_back("abc"); }, "a merge that is one token");
  expect_refused([](json& r) { r["model"]["vocab"]["\xe4\xb8\xad"] = 400; },
                 "a token outside the byte alphabet");
  expect_refused([](json& r) { r["model"]["vocab"].erase("a"); }, "a missing byte token");
  expect_refused([](json& r) { r["model"]["vocab"]["ab"] = "x"; }, "a non-integer id");
  expect_refused([](json& r) { r.erase("model"); }, "no model");
  // Ids far beyond the token count (found by tests/fuzz/model_config_fuzz.cpp: the id table, as long as the
  // largest id, took 64 GB; the largest int32 overflowed its length).
  expect_refused([](json& r) { r["model"]["vocab"]["ab"] = 2000000000; }, "a vocabulary id of 2e9");
  expect_refused([](json& r) { r["added_tokens"][0]["id"] = 2147483647; }, "an added token id of 2^31 - 1");

  try {  // a folder with neither tokenizer.json nor vocab.json
    Qwen2Tokenizer::from_directory(dir_ / "empty");
    ADD_FAILURE() << "no error for an empty folder";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find((dir_ / "empty" / "vocab.json").string()), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace vramkit
