// libFuzzer target for the prompt's way into the model: the Qwen2 tokenizer's text preparation (UTF-8
// decoding, NFC, the Qwen2 split scanner) and BPE, on arbitrary bytes as a user's prompt may hold. Every
// input must either throw vramkit::ArgumentError (invalid UTF-8) or satisfy:
//   - the split pieces are non-empty, in order and cover the text;
//   - NFC is idempotent;
//   - encode is deterministic (the second call goes through the word cache) and gives known ids;
//   - without added tokens in the text, decode(encode(text)) is the NFC of the text (byte-level BPE loses
//     nothing).
// The input's bytes read as ids go through decode too, which must return or throw ArgumentError.
// Anything else (another exception, a crash, an out-of-bounds access that AddressSanitizer sees, a violated
// property: __builtin_trap) is a finding.
// The vocabulary is built here, the way Qwen2's is made: the 256 byte tokens, merges of a space or a letter
// with a letter, then of those pairs with a letter (so merges compete by rank inside words), and three added
// tokens.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "models/qwen_image/pretokenize.h"
#include "models/qwen_image/tokenizer.h"
#include "vramkit/error.h"

namespace {

std::string utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {  // bytes_to_unicode stays below U+0800
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

vramkit::Qwen2Tokenizer make_tokenizer() {
  std::vector<vramkit::Qwen2Tokenizer::Token> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  std::int32_t next = 0;
  const auto spell = [](char byte) {
    return utf8(vramkit::byte_to_unicode(static_cast<std::uint8_t>(byte)));
  };
  for (int b = 0; b < 256; ++b)
    vocab.push_back({utf8(vramkit::byte_to_unicode(static_cast<std::uint8_t>(b))), next++});
  const std::string_view letters = "etaoinshrdlu", firsts = " etaoinshrdlu";
  for (const char first : firsts)
    for (const char second : letters) {
      merges.emplace_back(spell(first), spell(second));
      vocab.push_back({spell(first) + spell(second), next++});
    }
  for (const char first : std::string_view(" et"))
    for (const char second : std::string_view("ha"))
      for (const char third : letters) {
        merges.emplace_back(spell(first) + spell(second), spell(third));
        vocab.push_back({spell(first) + spell(second) + spell(third), next++});
      }
  const std::vector<vramkit::Qwen2Tokenizer::Token> added = {
      {"<|endoftext|>", 151643}, {"<|im_start|>", 151644}, {"<|im_end|>", 151645}};
  return vramkit::Qwen2Tokenizer(vocab, merges, added, "fuzz vocabulary");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const vramkit::Qwen2Tokenizer tokenizer = make_tokenizer();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // Ids from the raw bytes: decode returns or names a bad id.
  std::vector<std::int32_t> raw_ids(size / sizeof(std::int32_t));
  if (!raw_ids.empty()) std::memcpy(raw_ids.data(), data, raw_ids.size() * sizeof(std::int32_t));
  try {
    tokenizer.decode(raw_ids);
  } catch (const vramkit::ArgumentError&) {
  }

  std::vector<vramkit::TextPiece> pieces;
  std::string normalized;
  std::vector<std::int32_t> ids;
  try {
    pieces = vramkit::split_qwen2_pieces(text);
    normalized = vramkit::nfc_normalize(text);
    ids = tokenizer.encode(text);
  } catch (const vramkit::ArgumentError&) {
    return 0;  // invalid UTF-8
  }
  std::size_t at = 0;
  for (const vramkit::TextPiece& p : pieces) {
    if (p.begin != at || p.end <= p.begin) __builtin_trap();
    at = p.end;
  }
  if (at != text.size()) __builtin_trap();
  if (vramkit::nfc_normalize(normalized) != normalized) __builtin_trap();
  if (tokenizer.encode(text) != ids) __builtin_trap();
  for (const std::int32_t id : ids)
    if (id < 0 || static_cast<std::size_t>(id) >= tokenizer.size()) __builtin_trap();
  if (text.find("<|") == std::string_view::npos && tokenizer.decode(ids) != normalized) __builtin_trap();
  return 0;
}
