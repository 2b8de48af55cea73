// The Qwen2 split pattern as a hand-written scanner. At each position the alternatives of
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
//   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// are tried in order (leftmost-first, as Oniguruma does), each with the match its backtracking would find:
//  - \s*[\r\n]+ ends after the last CR/LF of the whitespace run;
//  - \s+(?!\S) takes the whole run at the end of the text, else the run less its last character (if that
//  leaves
//    one), so that the final space joins the next word (" word");
//  - \s+ takes the whole run otherwise (a single whitespace before a non-space).
// Categories: \p{L} = general category L*, \p{N} = N*, \s = the Unicode White_Space property (as Oniguruma's
// Unicode \s); (?i) folds ASCII letters and U+017F LATIN SMALL LETTER LONG S (case-folds to 's').
#include "models/qwen_image/pretokenize.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <array>
#include <cstdint>

#include "vramkit/error.h"

namespace vramkit {
namespace {

enum CharClass : std::uint8_t { kLetter = 1, kNumber = 2, kSpace = 4, kNewline = 8 };

struct CodePoint {
  UChar32 value;
  std::size_t offset;  // byte offset of its first byte
  std::uint8_t classes;
};

std::uint8_t classify_with_icu(UChar32 c) {
  const std::uint32_t mask = U_GET_GC_MASK(c);
  std::uint8_t classes = 0;
  if (mask & U_GC_L_MASK) classes |= kLetter;
  if (mask & U_GC_N_MASK) classes |= kNumber;
  if (u_hasBinaryProperty(c, UCHAR_WHITE_SPACE)) classes |= kSpace;
  if (c == '\r' || c == '\n') classes |= kNewline;
  return classes;
}

// ASCII (most of any prompt) from a table, the rest from ICU.
std::uint8_t classify(UChar32 c) {
  static const auto ascii = [] {
    std::array<std::uint8_t, 128> table{};
    for (UChar32 a = 0; a < 128; ++a) table[a] = classify_with_icu(a);
    return table;
  }();
  return c < 128 ? ascii[c] : classify_with_icu(c);
}

std::vector<CodePoint> decode_utf8(std::string_view text) {
  std::vector<CodePoint> points;
  points.reserve(text.size());
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(text.data());
  const auto length = static_cast<std::int32_t>(text.size());
  std::int32_t i = 0;
  while (i < length) {
    const auto offset = static_cast<std::size_t>(i);
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    if (c < 0) {
      throw ArgumentError("tokenizer: invalid UTF-8 in the input text at byte " + std::to_string(offset));
    }
    points.push_back({c, offset, classify(c)});
  }
  return points;
}

UChar32 fold_ascii(UChar32 c) {
  return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : (c == 0x17F ? 's' : c);
}

// Length in code points of the contraction at i, or 0.
std::size_t contraction_length(const std::vector<CodePoint>& cps, std::size_t i) {
  if (cps[i].value != '\'' || i + 1 >= cps.size()) return 0;
  const UChar32 first = fold_ascii(cps[i + 1].value);
  if (first == 's' || first == 't' || first == 'm' || first == 'd') return 2;
  if (i + 2 >= cps.size()) return 0;
  const UChar32 second = fold_ascii(cps[i + 2].value);
  if ((first == 'r' && second == 'e') || (first == 'v' && second == 'e') || (first == 'l' && second == 'l')) {
    return 3;
  }
  return 0;
}

// End (exclusive, in code points) of the piece that starts at i.
std::size_t match_at(const std::vector<CodePoint>& cps, std::size_t i) {
  const std::size_t n = cps.size();
  const auto has = [&](std::size_t k, std::uint8_t cls) { return k < n && (cps[k].classes & cls) != 0; };
  const auto is_symbol = [&](std::size_t k) {
    return k < n && (cps[k].classes & (kLetter | kNumber | kSpace)) == 0;
  };
  const auto letters_end = [&](std::size_t k) {
    while (has(k, kLetter)) ++k;
    return k;
  };

  if (const std::size_t len = contraction_length(cps, i)) return i + len;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if ((cps[i].classes & (kNewline | kLetter | kNumber)) == 0 && has(i + 1, kLetter))
    return letters_end(i + 1);
  if (has(i, kLetter)) return letters_end(i);
  // \p{N}
  if (has(i, kNumber)) return i + 1;
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  std::size_t start = (cps[i].value == ' ' && is_symbol(i + 1)) ? i + 1 : i;
  if (is_symbol(start)) {
    std::size_t k = start;
    while (is_symbol(k)) ++k;
    while (has(k, kNewline)) ++k;
    return k;
  }
  // Whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+ (every remaining code point is whitespace).
  std::size_t run_end = i;
  std::size_t after_last_newline = 0;
  while (has(run_end, kSpace)) {
    if (cps[run_end].classes & kNewline) after_last_newline = run_end + 1;
    ++run_end;
  }
  if (after_last_newline != 0) return after_last_newline;
  if (run_end == n || run_end - i == 1) return run_end;
  return run_end - 1;
}

}  // namespace

std::string nfc_normalize(std::string_view utf8) {
  bool ascii = true;
  for (const char c : utf8) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(utf8);
  decode_utf8(utf8);  // validates: ICU would silently replace invalid bytes with U+FFFD
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  const icu::StringPiece text(utf8.data(), static_cast<std::int32_t>(utf8.size()));
  std::string out;
  if (U_SUCCESS(status) && nfc->isNormalizedUTF8(text, status)) {
    out = utf8;
  } else if (U_SUCCESS(status)) {
    icu::StringByteSink<std::string> sink(&out);
    nfc->normalizeUTF8(0, text, sink, nullptr, status);
  }
  if (U_FAILURE(status)) {
    throw Error(std::string("tokenizer: ICU NFC normalization failed: ") + u_errorName(status));
  }
  return out;
}

std::vector<TextPiece> split_qwen2_pieces(std::string_view utf8) {
  const std::vector<CodePoint> cps = decode_utf8(utf8);
  std::vector<TextPiece> pieces;
  std::size_t i = 0;
  while (i < cps.size()) {
    const std::size_t end = match_at(cps, i);
    pieces.push_back({cps[i].offset, end < cps.size() ? cps[end].offset : utf8.size()});
    i = end;
  }
  return pieces;
}

}  // namespace vramkit
