// File-name patterns with the rules of Python's glob module, which DiffSynth-Studio applies to a model
// folder for its `origin_file_pattern` (glob.glob(pattern, root_dir=folder), recursive=False,
// include_hidden=False):
// - a pattern is split at '/'; each component is matched against the names of one directory level, so no
//   wildcard ever crosses a '/';
// - '*' matches any run of characters (also none), '?' one character, '[seq]' one character of the set and
//   '[!seq]' one character outside it; inside a set 'a-z' is a range, ']' right after '[' or '[!' is a
//   member, a reversed range is empty; a '[' without a closing ']' is a literal '['; backslash escapes
//   nothing;
//   '**' is the same as '*' (no recursion, as with recursive=False); matching is case-sensitive;
// - names starting with '.' match only a pattern component that starts with '.' (hidden files);
// - a component without wildcards is not listed but tested for existence (so it may name a hidden file);
// - a pattern ending in '/' matches directories only.
// Characters are Unicode code points decoded from UTF-8; a byte that is not valid UTF-8 counts as one
// character, as Python's surrogateescape decoding does.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace vramkit {

// True when `s` holds a wildcard character ('*', '?' or '[').
bool has_glob_magic(std::string_view s);

// fnmatch of one path component: true when `name` matches `pattern` in full.
bool glob_match_component(std::string_view pattern, std::string_view name);

// The paths under `folder` that `pattern` (relative, '/'-separated) matches, relative to `folder`, sorted
// bytewise, each once. A pattern ending in '/' yields directory paths without the trailing '/'. An empty
// result is not an error here. Throws ArgumentError for an empty or absolute pattern.
std::vector<std::string> glob_in_folder(const std::filesystem::path& folder, std::string_view pattern);

}  // namespace vramkit
