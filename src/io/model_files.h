// Model files: resolving DiffSynth-Studio file patterns inside a model folder, and WeightFiles, the map from
// every tensor name of a set of safetensors files (a single file, the shards of a `*.safetensors.index.json`,
// or a component folder) to its file and byte range.
//
// Rules WeightFiles enforces, each failure naming the files and the tensor:
// - only safetensors: a .bin/.pt/.pth/.ckpt file is an ArgumentError saying so; any other file that is not
//   `*.safetensors` or `*.safetensors.index.json` is an ArgumentError;
// - an index must hold a "weight_map" object of tensor name -> shard file name (relative to the index's
//   folder); a shard that does not exist, or a listed tensor that its shard lacks, is a FormatError;
// - a tensor present in two files is a FormatError, whether or not an index lists it;
// - a tensor a shard holds that its index does not list is kept (served from that shard) with a warning:
//   DiffSynth-Studio ignores the index and loads every tensor of the files a pattern matches, and refusing a
//   folder it loads would be the worse surprise. The index's "metadata" is not checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/safetensors.h"

namespace vramkit {

// The paths `pattern` selects in `folder`, with the semantics DiffSynth-Studio gives `origin_file_pattern`
// (Python glob relative to the folder, see io/glob.h): an empty pattern means the folder itself; a pattern
// ending in '/' selects directories. Sorted. Throws ArgumentError naming the folder and the pattern when the
// folder does not exist or nothing matches.
std::vector<std::filesystem::path> resolve_model_files(const std::filesystem::path& folder,
                                                       std::string_view pattern);

// True for the names of PyTorch pickle checkpoints (.bin, .pt, .pth, .ckpt), which vramkit does not read.
bool is_pickle_checkpoint(const std::filesystem::path& path);
// True for "*.safetensors.index.json".
bool is_safetensors_index(const std::filesystem::path& path);

// One tensor of a WeightFiles set.
struct WeightTensor {
  const SafetensorsEntry* entry = nullptr;  // name, dtype, shape, range in its file's data section
  std::size_t file_index = 0;               // into WeightFiles::files()
  std::uint64_t file_offset = 0;            // absolute offset of the first byte in that file

  const std::string& name() const { return entry->name; }
  DType dtype() const { return entry->dtype; }
  const Shape& shape() const { return entry->shape; }
  std::uint64_t bytes() const { return entry->bytes(); }
};

class WeightFiles {
 public:
  // Opens every file of `paths` once (headers validated, data memory-mapped, nothing read). Each path is a
  // `*.safetensors` file, a `*.safetensors.index.json` (its shards are opened), or a folder: the folder's
  // single `*.safetensors.index.json` if it has one (several are an ArgumentError), otherwise all its
  // `*.safetensors` files. A file reached twice (an index and one of its shards) is opened once.
  static WeightFiles open(const std::vector<std::filesystem::path>& paths);
  static WeightFiles open(const std::filesystem::path& path) { return open(std::vector{path}); }
  // open(resolve_model_files(folder, pattern)).
  static WeightFiles open_pattern(const std::filesystem::path& folder, std::string_view pattern);

  // The opened safetensors files, in the order of `paths` (an index's or folder's files sorted by name).
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  // Every tensor once, sorted by name.
  const std::vector<WeightTensor>& tensors() const { return tensors_; }
  std::size_t size() const { return tensors_.size(); }
  bool empty() const { return tensors_.empty(); }

  const WeightTensor* find(std::string_view name) const;  // null when absent
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  // Throws ArgumentError naming the tensor and the files searched.
  const WeightTensor& at(std::string_view name) const;
  const SafetensorsFile& file(const WeightTensor& tensor) const { return *files_[tensor.file_index]; }
  // A zero-copy host view of the tensor's bytes (see SafetensorsFile::view).
  Tensor view(std::string_view name) const;

  std::uint64_t total_bytes() const { return total_bytes_; }
  // "a.safetensors, b.safetensors" (file names), for messages.
  std::string describe() const;

 private:
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::vector<WeightTensor> tensors_;
  std::uint64_t total_bytes_ = 0;

  friend class WeightFilesBuilder;
};

}  // namespace vramkit
