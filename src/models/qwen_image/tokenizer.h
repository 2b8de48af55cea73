// The Qwen2 byte-level BPE tokenizer (Qwen2Tokenizer / the fast tokenizer of Qwen2, Qwen2.5-VL and
// Qwen-Image).
//
// encode(text): added tokens (<|im_start|>, <|endoftext|>, <|vision_start|>...) are found first as whole
// strings anywhere in the text (leftmost, longest on ties; they are never normalized or split); each stretch
// between them is NFC-normalized, split by the Qwen2 pattern (pretokenize.h), mapped to bytes and merged by
// BPE in merge rank order. No BOS/EOS is added. decode(ids) concatenates the tokens' bytes (added tokens as
// their text). Identical ids to Hugging Face `tokenizers` with the same vocabulary
// (tests/unit/tokenizer_test.cpp).
//
// Encoding is thread-safe: the only shared mutable state is the word cache, under a mutex.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vramkit {

class Qwen2Tokenizer {
 public:
  // One entry of the vocabulary or of the added tokens, as the loaders read it.
  struct Token {
    std::string text;  // for vocabulary entries: the byte-level (GPT-2 bytes_to_unicode) spelling
    std::int32_t id;
  };

  // Hugging Face tokenizer.json (model BPE, normalizer NFC, the Qwen2 Split + ByteLevel pre-tokenizer; merges
  // as "a b" strings or [a, b] pairs). Throws IoError (unreadable file) or FormatError (bad JSON, another
  // tokenizer type or pre-tokenizer, a merge of unknown tokens, an id of 2^22 or more), naming the file.
  static Qwen2Tokenizer from_tokenizer_json(const std::filesystem::path& file);
  // A tokenizer folder: tokenizer.json when present, else the slow-tokenizer files vocab.json + merges.txt
  // with the added tokens of tokenizer_config.json ("added_tokens_decoder") or added_tokens.json
  // (Qwen-Image's tokenizer/ folder has no tokenizer.json).
  static Qwen2Tokenizer from_directory(const std::filesystem::path& dir);
  // Builds from parsed tables; `source` names the file(s) in error messages.
  Qwen2Tokenizer(const std::vector<Token>& vocab,
                 const std::vector<std::pair<std::string, std::string>>& merges,
                 const std::vector<Token>& added, const std::string& source);

  std::vector<std::int32_t> encode(std::string_view text) const;
  // Throws ArgumentError for an id that is neither in the vocabulary nor an added token. Byte-level tokens
  // are joined as raw bytes: ids that split a UTF-8 sequence give its bytes unchanged, not U+FFFD.
  std::string decode(std::span<const std::int32_t> ids) const;

  // The id of a vocabulary or added token given by its text (byte-level spelling for vocabulary entries).
  std::optional<std::int32_t> token_id(std::string_view token) const;
  // One past the largest id (vocabulary and added tokens).
  std::size_t size() const { return id_to_bytes_.size(); }

 private:
  struct Merge {
    std::int32_t rank;
    std::int32_t merged_id;
  };
  struct AddedToken {
    std::string text;
    std::int32_t id;
  };

  void encode_ordinary(std::string_view text, std::vector<std::int32_t>& out) const;
  void encode_word(std::string_view bytes, std::vector<std::int32_t>& out) const;
  std::vector<std::int32_t> bpe(std::string_view bytes) const;
  // The added token starting at text[pos] (longest), or nullptr.
  const AddedToken* added_token_at(std::string_view text, std::size_t pos) const;

  std::int32_t byte_ids_[256];
  std::unordered_map<std::uint64_t, Merge> merges_;  // key: left id << 32 | right id
  std::vector<std::string> id_to_bytes_;             // decoded bytes per id; added tokens their text
  std::vector<bool> id_known_;
  std::unordered_map<std::string, std::int32_t> text_to_id_;
  std::vector<AddedToken> added_;  // longest first
  bool added_first_byte_[256] = {};

  static constexpr std::size_t kMaxCachedWords = 1 << 16;
  mutable std::unique_ptr<std::mutex> cache_mutex_ = std::make_unique<std::mutex>();
  // Transparent hashing: words are looked up by string_view, without a copy.
  struct WordHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view word) const { return std::hash<std::string_view>{}(word); }
  };
  mutable std::unordered_map<std::string, std::vector<std::int32_t>, WordHash, std::equal_to<>> word_cache_;
};

// GPT-2's bytes_to_unicode: the printable code point that stands for each byte in byte-level BPE
// vocabularies.
char32_t byte_to_unicode(std::uint8_t byte);

}  // namespace vramkit
