// Qwen2 tokenizer: table building, encode (added-token split, NFC, Qwen2 split, BPE) and decode.
// BPE works on token ids, not strings: a word starts as the ids of its bytes and the adjacent pair with the
// lowest merge rank (leftmost on ties) is replaced by the merged id until no pair has a merge -- the same
// order as the priority queue of Hugging Face tokenizers. Words are cached (the cache is dropped when it
// reaches its cap).
#include "models/qwen_image/tokenizer.h"

#include <algorithm>
#include <limits>

#include "models/qwen_image/pretokenize.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
         static_cast<std::uint32_t>(right);
}

// Code point -> byte for the byte-level alphabet (all of it lies below U+0144).
struct UnicodeToByte {
  std::int16_t table[0x144];
  UnicodeToByte() {
    std::fill(std::begin(table), std::end(table), std::int16_t{-1});
    for (int b = 0; b < 256; ++b)
      table[byte_to_unicode(static_cast<std::uint8_t>(b))] = static_cast<std::int16_t>(b);
  }
};

// The raw bytes a byte-level token spells; nullopt when a character is outside the byte alphabet.
std::optional<std::string> byte_level_to_bytes(std::string_view text) {
  static const UnicodeToByte map;
  std::string bytes;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    char32_t c;
    if (lead < 0x80) {
      c = lead;
      i += 1;
    } else if ((lead & 0xE0) == 0xC0 && i + 1 < text.size()) {
      c = ((lead & 0x1Fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
      i += 2;
    } else {
      return std::nullopt;  // three- and four-byte sequences are all above U+0143
    }
    if (c >= 0x144 || map.table[c] < 0) return std::nullopt;
    bytes.push_back(static_cast<char>(map.table[c]));
  }
  return bytes;
}

}  // namespace

char32_t byte_to_unicode(std::uint8_t byte) {
  // Printable Latin-1 bytes stand for themselves; the 68 others take U+0100.. in byte order.
  const auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
  };
  if (printable(byte)) return byte;
  char32_t next = 0x100;
  for (int b = 0; b < byte; ++b) {
    if (!printable(b)) ++next;
  }
  return next;
}

Qwen2Tokenizer::Qwen2Tokenizer(const std::vector<Token>& vocab,
                               const std::vector<std::pair<std::string, std::string>>& merges,
                               const std::vector<Token>& added, const std::string& source) {
  // The id table is as long as the largest id: an id from a corrupt file could make it huge, so ids are
  // capped well above any real vocabulary (Qwen2: 151665 ids; the tiny test models keep Qwen2's added-token
  // ids beside a few hundred others).
  constexpr std::int64_t kIdLimit = std::int64_t{1} << 22;
  std::int64_t max_id = -1;
  for (const std::vector<Token>* list : {&vocab, &added})
    for (const Token& t : *list) {
      if (t.id >= kIdLimit)
        throw FormatError(source + ": token '" + t.text + "' has id " + std::to_string(t.id) +
                          "; ids must be below " + std::to_string(kIdLimit));
      max_id = std::max<std::int64_t>(max_id, t.id);
    }
  id_to_bytes_.resize(static_cast<std::size_t>(max_id + 1));
  id_known_.assign(id_to_bytes_.size(), false);
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);

  for (const Token& t : vocab) {
    if (t.id < 0)
      throw FormatError(source + ": negative id " + std::to_string(t.id) + " for token '" + t.text + "'");
    const std::optional<std::string> bytes = byte_level_to_bytes(t.text);
    if (!bytes || bytes->empty()) {
      throw FormatError(source + ": vocabulary token '" + t.text + "' (id " + std::to_string(t.id) +
                        ") is not in the byte-level alphabet");
    }
    id_to_bytes_[t.id] = *bytes;
    id_known_[t.id] = true;
    text_to_id_[t.text] = t.id;
    if (bytes->size() == 1) byte_ids_[static_cast<unsigned char>((*bytes)[0])] = t.id;
  }
  for (int b = 0; b < 256; ++b) {
    if (byte_ids_[b] < 0)
      throw FormatError(source + ": the vocabulary lacks the token of byte " + std::to_string(b));
  }

  merges_.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    // Named references, not a structured binding: clang before 16 cannot capture those in the lambda.
    const std::string& left = merges[rank].first;
    const std::string& right = merges[rank].second;
    const auto find = [&](const std::string& text) {
      const auto it = text_to_id_.find(text);
      if (it == text_to_id_.end()) {
        throw FormatError(source + ": merge " + std::to_string(rank) + " '" + left + " " + right +
                          "' uses '" + text + "', which is not in the vocabulary");
      }
      return it->second;
    };
    // A repeated pair keeps its first (lowest) rank, as the reference does.
    merges_.try_emplace(pair_key(find(left), find(right)),
                        Merge{static_cast<std::int32_t>(rank), find(left + right)});
  }

  for (const Token& t : added) {
    if (t.id < 0 || t.text.empty()) throw FormatError(source + ": bad added token '" + t.text + "'");
    id_to_bytes_[t.id] = t.text;
    id_known_[t.id] = true;
    text_to_id_[t.text] = t.id;
    added_.push_back({t.text, t.id});
    added_first_byte_[static_cast<unsigned char>(t.text[0])] = true;
  }
  std::stable_sort(added_.begin(), added_.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.text.size() > b.text.size(); });
}

std::optional<std::int32_t> Qwen2Tokenizer::token_id(std::string_view token) const {
  const auto it = text_to_id_.find(std::string(token));
  if (it == text_to_id_.end()) return std::nullopt;
  return it->second;
}

const Qwen2Tokenizer::AddedToken* Qwen2Tokenizer::added_token_at(std::string_view text,
                                                                 std::size_t pos) const {
  if (!added_first_byte_[static_cast<unsigned char>(text[pos])]) return nullptr;
  for (const AddedToken& token : added_) {
    if (text.compare(pos, token.text.size(), token.text) == 0) return &token;
  }
  return nullptr;
}

std::vector<std::int32_t> Qwen2Tokenizer::encode(std::string_view text) const {
  std::vector<std::int32_t> ids;
  std::size_t segment_start = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const AddedToken* token = added_token_at(text, pos);
    if (token == nullptr) {
      ++pos;
      continue;
    }
    encode_ordinary(text.substr(segment_start, pos - segment_start), ids);
    ids.push_back(token->id);
    pos += token->text.size();
    segment_start = pos;
  }
  encode_ordinary(text.substr(segment_start), ids);
  return ids;
}

void Qwen2Tokenizer::encode_ordinary(std::string_view text, std::vector<std::int32_t>& out) const {
  if (text.empty()) return;
  const std::string normalized = nfc_normalize(text);
  for (const TextPiece& piece : split_qwen2_pieces(normalized)) {
    encode_word(std::string_view(normalized).substr(piece.begin, piece.end - piece.begin), out);
  }
}

void Qwen2Tokenizer::encode_word(std::string_view bytes, std::vector<std::int32_t>& out) const {
  {
    std::lock_guard lock(*cache_mutex_);
    const auto it = word_cache_.find(bytes);
    if (it != word_cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<std::int32_t> ids = bpe(bytes);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard lock(*cache_mutex_);
  if (word_cache_.size() >= kMaxCachedWords) word_cache_.clear();
  word_cache_.emplace(std::string(bytes), std::move(ids));
}

std::vector<std::int32_t> Qwen2Tokenizer::bpe(std::string_view bytes) const {
  std::vector<std::int32_t> symbols;
  symbols.reserve(bytes.size());
  for (const char b : bytes) symbols.push_back(byte_ids_[static_cast<unsigned char>(b)]);
  while (symbols.size() > 1) {
    std::int32_t best_rank = std::numeric_limits<std::int32_t>::max();
    std::size_t best_pos = 0;
    std::int32_t best_id = -1;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto it = merges_.find(pair_key(symbols[i], symbols[i + 1]));
      if (it != merges_.end() && it->second.rank < best_rank) {
        best_rank = it->second.rank;
        best_pos = i;
        best_id = it->second.merged_id;
      }
    }
    if (best_id < 0) break;
    symbols[best_pos] = best_id;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
  }
  return symbols;
}

std::string Qwen2Tokenizer::decode(std::span<const std::int32_t> ids) const {
  std::string text;
  for (const std::int32_t id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= id_to_bytes_.size() || !id_known_[id]) {
      throw ArgumentError("tokenizer decode: unknown token id " + std::to_string(id) + " (vocabulary size " +
                          std::to_string(id_to_bytes_.size()) + ")");
    }
    text += id_to_bytes_[id];
  }
  return text;
}

}  // namespace vramkit
