// Text preparation of the Qwen2 tokenizer before BPE: UTF-8 decoding, NFC normalization and the Qwen2 split
// pattern, written as a scanner over code points (no regex engine) with Unicode categories from ICU.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vramkit {

// The pattern this scanner implements, exactly as tokenizer.json spells it (Split, behavior Isolated). The
// loader refuses a tokenizer.json with any other pattern.
inline constexpr std::string_view kQwen2SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// A piece of the text, as a byte range [begin, end) into the string that was split.
struct TextPiece {
  std::size_t begin;
  std::size_t end;
};

// Unicode NFC of UTF-8 text (ICU). Throws ArgumentError on invalid UTF-8.
std::string nfc_normalize(std::string_view utf8);

// Splits UTF-8 text into the pieces the Qwen2 pattern matches, in order; the pieces cover the whole text
// (every code point matches one alternative). Throws ArgumentError on invalid UTF-8.
std::vector<TextPiece> split_qwen2_pieces(std::string_view utf8);

}  // namespace vramkit
