// The safetensors header parser: every check the format allows, before any field is used.
//
// Rules (the Python `safetensors` package, version 0.8, enforces the same unless noted):
// - 8-byte little-endian length N <= 100 MB, 8 + N <= file size; the N bytes are one UTF-8 JSON object
//   (leading and trailing whitespace allowed, no byte-order mark).
// - Keys are tensor names plus an optional "__metadata__" object whose values are strings (null counts as
//   no metadata, as in the reference). A name used twice is an error (the reference reports it as an
//   offset error, since the second range then overlaps or leaves a gap).
// - A tensor is an object with exactly "dtype", "shape" and "data_offsets". Stricter than the reference,
//   which ignores unknown fields: an unknown field here is an error, because it usually means a writer of a
//   newer or foreign format whose meaning we cannot honour.
// - dtype is one of F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 I16 I8 U8 BOOL; shape is an array of at most
//   kMaxRank non-negative integers below 2^63 (the reference allows any rank; our Shape holds 8);
//   data_offsets is [begin, end] with begin <= end; element count x element size == end - begin, computed
//   without overflow.
// - Zero-element tensors are allowed (begin == end), as in the reference.
// - The ranges, ordered by offset, tile the data section exactly: the first starts at 0, each starts where
//   the previous one ended, the last ends at the end of the file. Overlaps, gaps and trailing bytes are
//   errors, as in the reference ("invalid offset" / "file not fully covered"). A file whose header is "{}"
//   and whose data section is empty is valid.
#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "vramkit/error.h"

namespace vramkit {
namespace {

using json = nlohmann::json;

constexpr std::string_view kMetadataKey = "__metadata__";
constexpr std::string_view kKnownDTypes = "F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 I16 I8 U8 BOOL";
// Deepest container the format has: root object (0) > tensor object (1) > shape / data_offsets array (2).
constexpr int kMaxContainerDepth = 2;
constexpr std::size_t kMaxNameInMessage = 200;

// Messages must stay printable ASCII whatever the input held (nlohmann quotes the bytes it read last).
std::string printable(std::string_view s, std::size_t limit = std::numeric_limits<std::size_t>::max()) {
  std::string out;
  for (const char c : s.substr(0, limit)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > limit) out += "...";
  return out;
}

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw FormatError(source + ": invalid safetensors file: " + what);
}

[[noreturn]] void fail_tensor(const std::string& source, std::string_view name, const std::string& what) {
  fail(source, "tensor '" + printable(name, kMaxNameInMessage) + "': " + what);
}

std::uint64_t read_u64_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Parses the JSON text, refusing duplicate keys in any object and nesting deeper than the format has.
json parse_json(std::span<const std::uint8_t> text, const std::string& source) {
  std::vector<std::set<std::string>> keys_per_object;  // one set per open object
  std::string top_level_key;                           // the tensor (or "__metadata__") being read
  const json::parser_callback_t check = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth > kMaxContainerDepth) {
          const std::string what = "nests JSON deeper than the format allows";
          if (depth > 1 && !top_level_key.empty()) fail_tensor(source, top_level_key, what);
          fail(source, "header " + what);
        }
        if (event == json::parse_event_t::object_start) keys_per_object.emplace_back();
        break;
      case json::parse_event_t::object_end:
        keys_per_object.pop_back();
        break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (depth == 1) top_level_key = key;
        if (!keys_per_object.back().insert(key).second) {
          if (depth == 1) fail_tensor(source, key, "the name appears twice in the header");
          fail(source, "header repeats the key '" + printable(key, kMaxNameInMessage) + "' in one object");
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), check);
  } catch (const json::exception& e) {
    fail(source, "header is not valid UTF-8 JSON: " + printable(e.what()));
  }
}

std::uint64_t unsigned_field(const std::string& source, std::string_view name, const json& v,
                             const std::string& what) {
  if (!v.is_number_unsigned())
    fail_tensor(source, name,
                what + " must be a non-negative integer below 2^64, found " + printable(v.dump()));
  return v.get<std::uint64_t>();
}

Shape parse_shape(const std::string& source, std::string_view name, const json& v) {
  if (!v.is_array())
    fail_tensor(source, name, "\"shape\" must be an array, found " + std::string(v.type_name()));
  if (v.size() > static_cast<std::size_t>(kMaxRank))
    fail_tensor(
        source, name,
        "rank " + std::to_string(v.size()) + " exceeds the supported maximum of " + std::to_string(kMaxRank));
  Shape shape;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::uint64_t d = unsigned_field(source, name, v[i], "shape dimension " + std::to_string(i));
    if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail_tensor(
          source, name,
          "shape dimension " + std::to_string(i) + " = " + std::to_string(d) + " does not fit 63 bits");
    shape.push_back(static_cast<std::int64_t>(d));
  }
  return shape;
}

// Byte count of a tensor, or failure when the element count or the byte count overflows 64 bits.
std::uint64_t byte_count(const std::string& source, std::string_view name, const Shape& shape, DType dtype) {
  std::uint64_t n = dtype_size(dtype);
  for (const std::int64_t d : shape.dims()) {
    if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n))
      fail_tensor(source, name, "byte count of shape " + shape.str() + " overflows 64 bits");
  }
  return n;
}

SafetensorsEntry parse_entry(const std::string& source, const std::string& name, const json& v,
                             std::uint64_t data_size) {
  if (!v.is_object()) fail_tensor(source, name, "expected an object, found " + std::string(v.type_name()));
  for (const auto& [key, value] : v.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail_tensor(source, name, "unknown field '" + printable(key, kMaxNameInMessage) + "'");
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!v.contains(key)) fail_tensor(source, name, std::string("missing field \"") + key + "\"");
  }

  SafetensorsEntry e;
  e.name = name;
  const json& dtype = v["dtype"];
  if (!dtype.is_string() || !dtype_from_safetensors(dtype.get_ref<const std::string&>(), &e.dtype))
    fail_tensor(source, name,
                "unknown dtype " + printable(dtype.dump(), kMaxNameInMessage) + " (expected one of " +
                    std::string(kKnownDTypes) + ")");
  e.shape = parse_shape(source, name, v["shape"]);

  const json& offsets = v["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    fail_tensor(source, name,
                "\"data_offsets\" must be an array [begin, end], found " +
                    printable(offsets.dump(), kMaxNameInMessage));
  e.begin = unsigned_field(source, name, offsets[0], "data_offsets begin");
  e.end = unsigned_field(source, name, offsets[1], "data_offsets end");
  const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ")";
  if (e.begin > e.end) fail_tensor(source, name, "data_offsets " + range + " begin after end");
  if (e.end > data_size)
    fail_tensor(
        source, name,
        "data_offsets " + range + " run past the data section of " + std::to_string(data_size) + " bytes");
  const std::uint64_t expected = byte_count(source, name, e.shape, e.dtype);
  if (expected != e.bytes())
    fail_tensor(source, name,
                std::string(dtype_safetensors_name(e.dtype)) + e.shape.str() + " needs " +
                    std::to_string(expected) + " bytes but data_offsets " + range + " hold " +
                    std::to_string(e.bytes()));
  return e;
}

std::map<std::string, std::string> parse_metadata(const std::string& source, const json& v) {
  std::map<std::string, std::string> metadata;
  if (v.is_null()) return metadata;
  if (!v.is_object()) fail(source, "\"__metadata__\" must be an object, found " + std::string(v.type_name()));
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string())
      fail(source, "\"__metadata__\" value of key '" + printable(key, kMaxNameInMessage) +
                       "' must be a string, found " + std::string(value.type_name()));
    metadata.emplace(key, value.get<std::string>());
  }
  return metadata;
}

// The ranges ordered by offset must tile [0, data_size) exactly (see the rules at the top).
void check_tiling(const std::string& source, const std::vector<SafetensorsEntry>& entries,
                  std::uint64_t data_size) {
  std::vector<const SafetensorsEntry*> by_offset;
  by_offset.reserve(entries.size());
  for (const auto& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t covered = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const SafetensorsEntry* e : by_offset) {
    if (e->begin < covered)
      fail_tensor(source, e->name,
                  "data_offsets [" + std::to_string(e->begin) + ", " + std::to_string(e->end) +
                      ") overlap tensor '" + printable(previous->name, kMaxNameInMessage) +
                      "' which ends at " + std::to_string(covered));
    if (e->begin > covered)
      fail_tensor(source, e->name,
                  "data_offsets begin " + std::to_string(e->begin) + " leaves bytes [" +
                      std::to_string(covered) + ", " + std::to_string(e->begin) +
                      ") of the data section unused");
    covered = e->end;
    previous = e;
  }
  if (covered != data_size)
    fail(source, "the data section holds " + std::to_string(data_size) +
                     " bytes but the tensors cover only " + std::to_string(covered));
}

}  // namespace

const SafetensorsEntry* SafetensorsHeader::find(std::string_view name) const {
  const auto it = std::lower_bound(entries.begin(), entries.end(), name,
                                   [](const SafetensorsEntry& e, std::string_view n) { return e.name < n; });
  return it != entries.end() && it->name == name ? &*it : nullptr;
}

SafetensorsHeader parse_safetensors_header(std::span<const std::uint8_t> bytes, std::uint64_t file_size,
                                           const std::string& source) {
  if (bytes.size() > file_size)
    throw ArgumentError(source + ": " + std::to_string(bytes.size()) + " bytes given for a file of " +
                        std::to_string(file_size));
  if (file_size < 8)
    fail(source, "the file has " + std::to_string(file_size) + " bytes, fewer than the 8-byte header length");
  if (bytes.size() < 8) throw ArgumentError(source + ": the buffer does not hold the 8-byte header length");

  const std::uint64_t header_size = read_u64_le(bytes.data());
  if (header_size > kMaxSafetensorsHeaderBytes)
    fail(source, "header length " + std::to_string(header_size) + " exceeds the limit of " +
                     std::to_string(kMaxSafetensorsHeaderBytes) + " bytes");
  if (header_size > file_size - 8)
    fail(source, "header length " + std::to_string(header_size) + " runs past the end of the file (" +
                     std::to_string(file_size) + " bytes)");
  if (bytes.size() - 8 < header_size)
    throw ArgumentError(source + ": the buffer holds " + std::to_string(bytes.size()) +
                        " bytes, fewer than the " + std::to_string(8 + header_size) + " of the header");

  const auto text = bytes.subspan(8, static_cast<std::size_t>(header_size));
  // nlohmann skips a UTF-8 byte-order mark; the format (and the reference) does not allow one.
  if (text.size() >= 3 && text[0] == 0xEF && text[1] == 0xBB && text[2] == 0xBF)
    fail(source, "header starts with a byte-order mark");
  const json root = parse_json(text, source);
  if (!root.is_object())
    fail(source, "header is a JSON " + std::string(root.type_name()) + ", not an object");

  SafetensorsHeader header;
  header.data_offset = 8 + header_size;
  const std::uint64_t data_size = file_size - header.data_offset;
  for (const auto& [key, value] : root.items()) {
    if (key == kMetadataKey)
      header.metadata = parse_metadata(source, value);
    else
      header.entries.push_back(parse_entry(source, key, value, data_size));
  }
  std::sort(header.entries.begin(), header.entries.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.name < b.name; });
  check_tiling(source, header.entries, data_size);
  return header;
}

}  // namespace vramkit
