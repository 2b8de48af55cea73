// Python-glob-compatible pattern matching; see glob.h for the rules. A component pattern is compiled into
// tokens (literal, any-one, any-run, set) and matched with the classic single-backtrack-point wildcard
// algorithm, which is exact for patterns whose only variable-length token is '*'.
#include "io/glob.h"

#include <algorithm>
#include <cstdint>
#include <system_error>
#include <utility>

#include "vramkit/error.h"

namespace vramkit {
namespace {

namespace fs = std::filesystem;

// Decodes UTF-8 into code points; every byte that does not start a valid sequence becomes U+DC80..U+DCFF,
// like Python's surrogateescape, so that such a byte still counts as exactly one character.
std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int length = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if (b0 < 0x80) {
      length = 1, cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      length = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      length = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      length = 4, cp = b0 & 0x07, min = 0x10000;
    }
    bool valid = length > 0 && i + static_cast<std::size_t>(length) <= s.size();
    for (int k = 1; valid && k < length; ++k) {
      const auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      if ((b & 0xC0) != 0x80) valid = false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (valid && length > 1 && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) valid = false;
    if (valid) {
      out.push_back(cp);
      i += static_cast<std::size_t>(length);
    } else {
      out.push_back(0xDC00 + b0);
      ++i;
    }
  }
  return out;
}

struct Token {
  enum class Kind { literal, any_one, any_run, set };
  Kind kind = Kind::literal;
  char32_t ch = 0;                                    // literal
  bool negated = false;                               // set
  std::vector<std::pair<char32_t, char32_t>> ranges;  // set members as inclusive ranges
};

// Parses the set starting after '[' at `open + 1`; returns false (the '[' is then a literal) when no ']'
// closes it. A ']' first in the set (after an optional '!') is a member, not the end.
bool parse_set(const std::u32string& p, std::size_t open, Token* token, std::size_t* next) {
  std::size_t j = open + 1;
  bool negated = false;
  if (j < p.size() && p[j] == U'!') negated = true, ++j;
  const std::size_t body = j;
  if (j < p.size() && p[j] == U']') ++j;
  while (j < p.size() && p[j] != U']') ++j;
  if (j >= p.size()) return false;
  token->kind = Token::Kind::set;
  token->negated = negated;
  // Left to right as a regular-expression class: "c-d" is a range when both ends exist; a '-' first, last or
  // right after a range is a member.
  for (std::size_t k = body; k < j;) {
    if (k + 2 < j && p[k + 1] == U'-') {
      token->ranges.emplace_back(p[k], p[k + 2]);  // a reversed range stays and matches nothing
      k += 3;
    } else {
      token->ranges.emplace_back(p[k], p[k]);
      ++k;
    }
  }
  *next = j + 1;
  return true;
}

std::vector<Token> compile(const std::u32string& p) {
  std::vector<Token> tokens;
  for (std::size_t i = 0; i < p.size();) {
    Token t;
    if (p[i] == U'*') {
      t.kind = Token::Kind::any_run;
      while (i < p.size() && p[i] == U'*') ++i;  // "**" is "*"
    } else if (p[i] == U'?') {
      t.kind = Token::Kind::any_one;
      ++i;
    } else if (p[i] == U'[' && parse_set(p, i, &t, &i)) {
    } else {
      t.kind = Token::Kind::literal;
      t.ch = p[i++];
    }
    tokens.push_back(std::move(t));
  }
  return tokens;
}

bool matches_one(const Token& t, char32_t c) {
  switch (t.kind) {
    case Token::Kind::literal:
      return t.ch == c;
    case Token::Kind::any_one:
      return true;
    case Token::Kind::set: {
      const bool member = std::any_of(t.ranges.begin(), t.ranges.end(),
                                      [c](const auto& r) { return r.first <= c && c <= r.second; });
      return member != t.negated;
    }
    case Token::Kind::any_run:
      break;
  }
  return false;
}

bool match_tokens(const std::vector<Token>& tokens, const std::u32string& s) {
  std::size_t ti = 0, si = 0;
  std::size_t star = tokens.size(), star_si = 0;  // last '*' seen and where its run started
  while (si < s.size()) {
    if (ti < tokens.size() && tokens[ti].kind == Token::Kind::any_run) {
      star = ti++;
      star_si = si;
    } else if (ti < tokens.size() && matches_one(tokens[ti], s[si])) {
      ++ti, ++si;
    } else if (star != tokens.size()) {
      ti = star + 1;  // let the last '*' take one more character
      si = ++star_si;
    } else {
      return false;
    }
  }
  while (ti < tokens.size() && tokens[ti].kind == Token::Kind::any_run) ++ti;
  return ti == tokens.size();
}

bool is_hidden(std::string_view name) {
  return !name.empty() && name.front() == '.';
}

// Follows symbolic links, as Python's os.path.isdir and DirEntry.is_dir do; false on any error.
bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// Like os.path.lexists: true for a broken symbolic link too.
bool lexists(const fs::path& p) {
  std::error_code ec;
  return fs::symlink_status(p, ec).type() != fs::file_type::not_found && !ec;
}

std::vector<std::string> split_components(std::string_view pattern) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= pattern.size()) {
    const std::size_t slash = std::min(pattern.find('/', start), pattern.size());
    if (slash > start) parts.emplace_back(pattern.substr(start, slash - start));  // "a//b" is "a/b"
    start = slash + 1;
  }
  return parts;
}

std::string join(const std::string& prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : prefix + "/" + std::string(name);
}

}  // namespace

bool has_glob_magic(std::string_view s) {
  return s.find_first_of("*?[") != std::string_view::npos;
}

bool glob_match_component(std::string_view pattern, std::string_view name) {
  return match_tokens(compile(decode_utf8(pattern)), decode_utf8(name));
}

std::vector<std::string> glob_in_folder(const std::filesystem::path& folder, std::string_view pattern) {
  if (pattern.empty()) throw ArgumentError("glob: empty pattern in folder '" + folder.string() + "'");
  if (pattern.front() == '/')
    throw ArgumentError("glob: pattern '" + std::string(pattern) +
                        "' is absolute; patterns are relative to '" + folder.string() + "'");
  const bool directories_only = pattern.back() == '/';
  const std::vector<std::string> parts = split_components(pattern);

  std::vector<std::string> found{""};  // matches so far, relative to `folder`; "" is the folder itself
  for (std::size_t level = 0; level < parts.size(); ++level) {
    const std::string& part = parts[level];
    const bool last = level + 1 == parts.size();
    const bool want_dir = !last || directories_only;
    std::vector<std::string> next;
    for (const std::string& prefix : found) {
      const fs::path dir = prefix.empty() ? folder : folder / prefix;
      if (!has_glob_magic(part)) {
        const fs::path candidate = dir / part;
        if (want_dir ? is_dir(candidate) : lexists(candidate)) next.push_back(join(prefix, part));
        continue;
      }
      if (!is_dir(dir)) continue;
      const std::vector<Token> tokens = compile(decode_utf8(part));
      std::error_code ec;
      for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (is_hidden(name) && !is_hidden(part)) continue;
        if (want_dir && !is_dir(it->path())) continue;
        if (match_tokens(tokens, decode_utf8(name))) next.push_back(join(prefix, name));
      }
    }
    found = std::move(next);
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  return found;
}

}  // namespace vramkit
