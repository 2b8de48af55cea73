// safetensors reading and writing.
//
// Format: 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping tensor names to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data section that follows the
// header) plus an optional "__metadata__" object of string values; then the data section.
//
// The parser validates everything before anything is used, and every error names the file and the tensor:
// header length (<= 100 MB and inside the file), valid UTF-8 JSON, known dtype strings (F64 F32 F16 BF16
// F8_E4M3 F8_E5M2 I64 I32 I16 I8 U8 BOOL), shape product x element size == byte range, ranges inside the data
// section, no two ranges overlapping, metadata values strings. No input makes it read out of bounds.
// The ranges must tile the data section exactly (no gaps, no trailing bytes), zero-element tensors are
// allowed, and unknown per-tensor fields are refused; safetensors.cpp lists every rule and where it differs
// from the Python `safetensors` package.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace vramkit {

inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  std::uint64_t begin = 0;  // byte range relative to the data section
  std::uint64_t end = 0;
  std::uint64_t bytes() const { return end - begin; }
};

struct SafetensorsHeader {
  std::uint64_t data_offset = 0;                // 8 + header length: where the data section starts
  std::vector<SafetensorsEntry> entries;        // sorted by name
  std::map<std::string, std::string> metadata;  // "__metadata__"
  const SafetensorsEntry* find(std::string_view name) const;  // null when absent
};

// Parses and validates the header of a safetensors file held in `bytes` (the whole file, or at least its
// first 8 + N bytes with `file_size` the real size). `source` names the file in errors. Throws FormatError.
SafetensorsHeader parse_safetensors_header(std::span<const std::uint8_t> bytes, std::uint64_t file_size,
                                           const std::string& source);

// An opened safetensors file: memory-mapped read-only, header validated.
class SafetensorsFile {
 public:
  // Throws IoError (cannot open/map) or FormatError (invalid content), naming the path.
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::uint64_t file_size() const { return file_size_; }
  const SafetensorsHeader& header() const { return header_; }
  const std::vector<SafetensorsEntry>& entries() const { return header_.entries; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  bool contains(std::string_view name) const { return header_.find(name) != nullptr; }
  // Throws ArgumentError naming the file and tensor when absent.
  const SafetensorsEntry& entry(std::string_view name) const;

  // A zero-copy cpu tensor over the mapped bytes; it keeps the mapping alive. Read-only: the mapping is
  // PROT_READ, so a write through the view faults. The format does not align tensors: one whose first byte is
  // not aligned to its element size is returned as an aligned copy instead (the Python package orders tensors
  // by alignment, so its files never need one; write_safetensors keeps the caller's order).
  // Throws ArgumentError naming the file and tensor when absent.
  Tensor view(std::string_view name) const;
  // Reads `length` bytes starting `offset` bytes into the tensor's range with pread (not through the
  // mapping) into `dst`. Throws ArgumentError for a range outside the tensor, IoError on a short read.
  void read(const SafetensorsEntry& entry, std::uint64_t offset, std::uint64_t length, void* dst) const;
  // Absolute file offset of a tensor's first byte (for the disk tier's aligned reads).
  std::uint64_t file_offset(const SafetensorsEntry& entry) const { return header_.data_offset + entry.begin; }
  int fd() const { return fd_; }

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  int fd_ = -1;
  void* map_ = nullptr;
  std::uint64_t file_size_ = 0;
  SafetensorsHeader header_;
  std::weak_ptr<SafetensorsFile> self_;
};

// A tensor a SafetensorsStreamWriter will write: its name, dtype and shape, known before its bytes.
struct SafetensorsTensorInfo {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
};

// Writes a safetensors file whose tensors are produced piece by piece, never all in memory: the header is
// written at construction from the declared names, dtypes and shapes (the same header write_safetensors
// writes), then each tensor's bytes arrive in declaration order through write(), in as many pieces as the
// caller likes, none crossing the end of a tensor. finish() checks that every declared byte was written and
// renames the temporary file over `path`; destroying the writer before that removes the temporary file.
class SafetensorsStreamWriter {
 public:
  // Throws ArgumentError on duplicate, reserved or invalid UTF-8 names, IoError when the file cannot be
  // created or written; ShapeError when a tensor's byte size overflows.
  SafetensorsStreamWriter(std::filesystem::path path, std::vector<SafetensorsTensorInfo> tensors,
                          const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsStreamWriter();
  SafetensorsStreamWriter(const SafetensorsStreamWriter&) = delete;
  SafetensorsStreamWriter& operator=(const SafetensorsStreamWriter&) = delete;

  // Appends `bytes` bytes of the current tensor. ArgumentError naming the file and the tensor when they run
  // past its end (or past the last tensor), or after finish().
  void write(const void* data, std::size_t bytes);
  // The tensor the next write() goes to (null when every declared byte has been written) and how many of its
  // bytes are still missing.
  const SafetensorsTensorInfo* current() const;
  std::uint64_t current_remaining() const { return remaining_; }
  // ArgumentError naming the first tensor that is not complete; IoError when the file cannot be closed or
  // renamed.
  void finish();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<SafetensorsTensorInfo> tensors_;
  std::vector<std::uint64_t> sizes_;  // bytes of each tensor
  std::size_t current_ = 0;
  std::uint64_t remaining_ = 0;  // bytes of tensors_[current_] not yet written
  bool finished_ = false;
};

// Writes tensors (any strides, host-accessible) to a safetensors file: "__metadata__" first, then the tensors
// in the given order, the header padded with spaces so that the data section starts 8-byte aligned, the data
// contiguous in the same order (row-major). Written to a temporary file renamed over `path` at the end.
// Throws ArgumentError on duplicate or invalid UTF-8 names, IoError on write failure.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace vramkit
