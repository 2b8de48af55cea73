#include "io/model_files.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <system_error>

#include "io/glob.h"
#include "vramkit/error.h"
#include "vramkit/log.h"

namespace vramkit {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Built by appending: GCC 12 reports a false -Wrestrict on "'" + std::string.
std::string quoted(const fs::path& p) {
  std::string out(1, '\'');
  out += p.string();
  out += '\'';
  return out;
}

nlohmann::json read_json_file(const fs::path& path, const char* what) {
  std::ifstream in(path);
  if (!in) throw IoError(std::string(what) + " " + quoted(path) + ": cannot open for reading");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(std::string(what) + " " + quoted(path) + ": invalid JSON: " + e.what());
  }
}

}  // namespace

std::vector<fs::path> resolve_model_files(const fs::path& folder, std::string_view pattern) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    throw ArgumentError("model folder " + quoted(folder) + " does not exist or is not a folder (pattern '" +
                        std::string(pattern) + "')");
  if (pattern.empty()) return {folder};
  std::vector<fs::path> paths;
  for (const std::string& relative : glob_in_folder(folder, pattern)) paths.push_back(folder / relative);
  if (paths.empty())
    throw ArgumentError("pattern '" + std::string(pattern) + "' matches nothing in model folder " +
                        quoted(folder));
  return paths;
}

bool is_pickle_checkpoint(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".bin" || ext == ".pt" || ext == ".pth" || ext == ".ckpt";
}

bool is_safetensors_index(const fs::path& path) {
  return ends_with(path.filename().string(), ".safetensors.index.json");
}

// Collects the files of a WeightFiles set, then indexes their tensors.
class WeightFilesBuilder {
 public:
  void add_path(const fs::path& path) {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (!fs::exists(status)) throw ArgumentError("no such file or folder: " + quoted(path));
    if (fs::is_directory(status)) {
      add_folder(path);
    } else if (is_safetensors_index(path)) {
      add_index(path);
    } else if (path.extension() == ".safetensors") {
      add_file(path);
    } else if (is_pickle_checkpoint(path)) {
      throw ArgumentError(quoted(path) +
                          " is a PyTorch pickle checkpoint; only safetensors files are supported (convert it "
                          "to .safetensors)");
    } else {
      throw ArgumentError(quoted(path) +
                          " is neither a .safetensors file, a .safetensors.index.json nor a folder");
    }
  }

  WeightFiles finish() {
    std::vector<WeightTensor>& tensors = result_.tensors_;
    for (std::size_t f = 0; f < result_.files_.size(); ++f) {
      const SafetensorsFile& file = *result_.files_[f];
      for (const SafetensorsEntry& entry : file.entries())
        tensors.push_back(WeightTensor{&entry, f, file.file_offset(entry)});
    }
    std::stable_sort(tensors.begin(), tensors.end(),
                     [](const WeightTensor& a, const WeightTensor& b) { return a.name() < b.name(); });
    for (std::size_t i = 1; i < tensors.size(); ++i) {
      if (tensors[i].name() == tensors[i - 1].name())
        throw FormatError("tensor '" + tensors[i].name() +
                          "' is in two files: " + quoted(result_.file(tensors[i - 1]).path()) + " and " +
                          quoted(result_.file(tensors[i]).path()));
    }
    for (const WeightTensor& t : tensors) result_.total_bytes_ += t.bytes();
    return std::move(result_);
  }

 private:
  std::size_t add_file(const fs::path& path) {
    std::error_code ec;
    fs::path key = fs::weakly_canonical(path, ec);
    if (ec) key = path;
    if (const auto it = file_index_.find(key); it != file_index_.end()) return it->second;
    result_.files_.push_back(SafetensorsFile::open(path));
    file_index_.emplace(key, result_.files_.size() - 1);
    return result_.files_.size() - 1;
  }

  void add_folder(const fs::path& folder) {
    const std::vector<std::string> indexes = glob_in_folder(folder, "*.safetensors.index.json");
    if (indexes.size() > 1) {
      std::string names;
      for (const std::string& n : indexes) names += (names.empty() ? "" : ", ") + n;
      throw ArgumentError("folder " + quoted(folder) + " holds several shard indexes (" + names +
                          "); name the one to use");
    }
    if (indexes.size() == 1) {
      add_index(folder / indexes.front());
      return;
    }
    const std::vector<std::string> files = glob_in_folder(folder, "*.safetensors");
    if (files.empty()) {
      for (const char* pattern : {"*.bin", "*.pt", "*.pth", "*.ckpt"}) {
        const std::vector<std::string> pickles = glob_in_folder(folder, pattern);
        if (!pickles.empty())
          throw ArgumentError("folder " + quoted(folder) + " holds PyTorch pickle weights ('" +
                              pickles.front() +
                              "'); only safetensors files are supported (convert them to .safetensors)");
      }
      throw ArgumentError("folder " + quoted(folder) + " holds no *.safetensors file or shard index");
    }
    for (const std::string& name : files) add_file(folder / name);
  }

  void add_index(const fs::path& index) {
    const nlohmann::json json = read_json_file(index, "shard index");
    if (!json.is_object() || !json.contains("weight_map") || !json["weight_map"].is_object())
      throw FormatError("shard index " + quoted(index) + " has no \"weight_map\" object");
    const nlohmann::json& weight_map = json["weight_map"];
    if (weight_map.empty()) throw FormatError("shard index " + quoted(index) + " lists no tensors");

    std::map<std::string, std::vector<std::string>> keys_by_shard;  // sorted by shard name
    for (const auto& [key, shard] : weight_map.items()) {
      if (!shard.is_string())
        throw FormatError("shard index " + quoted(index) + ": the shard of tensor '" + key +
                          "' is not a string");
      keys_by_shard[shard.get<std::string>()].push_back(key);
    }
    const fs::path folder = index.parent_path();
    for (const auto& [shard_name, keys] : keys_by_shard) {
      const fs::path shard = folder / shard_name;
      std::error_code ec;
      if (!fs::is_regular_file(shard, ec))
        throw FormatError("shard index " + quoted(index) + " names shard '" + shard_name + "' (for tensor '" +
                          keys.front() + "'), which does not exist");
      const SafetensorsFile& file = *result_.files_[add_file(shard)];
      for (const std::string& key : keys) {
        if (!file.contains(key))
          throw FormatError("shard index " + quoted(index) + " lists tensor '" + key + "' in shard '" +
                            shard_name + "', which does not hold it");
      }
      warn_unlisted(index, file, std::set<std::string_view>(keys.begin(), keys.end()));
    }
  }

  static void warn_unlisted(const fs::path& index, const SafetensorsFile& file,
                            const std::set<std::string_view>& listed) {
    std::size_t unlisted = 0;
    std::string first;
    for (const SafetensorsEntry& entry : file.entries()) {
      if (listed.count(entry.name)) continue;
      if (unlisted++ == 0) first = entry.name;
    }
    if (unlisted == 0) return;
    std::ostringstream message;
    message << "shard " << quoted(file.path()) << " holds " << unlisted << " tensor(s) that index "
            << quoted(index) << " does not list (first: '" << first << "'); they are used anyway";
    log_warn(message.str());
  }

  WeightFiles result_;
  std::map<fs::path, std::size_t> file_index_;  // canonical path -> index in result_.files_
};

WeightFiles WeightFiles::open(const std::vector<fs::path>& paths) {
  if (paths.empty()) throw ArgumentError("WeightFiles::open: no paths given");
  WeightFilesBuilder builder;
  for (const fs::path& path : paths) builder.add_path(path);
  return builder.finish();
}

WeightFiles WeightFiles::open_pattern(const fs::path& folder, std::string_view pattern) {
  return open(resolve_model_files(folder, pattern));
}

const WeightTensor* WeightFiles::find(std::string_view name) const {
  const auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const WeightTensor& t, std::string_view n) { return t.name() < n; });
  return it != tensors_.end() && it->name() == name ? &*it : nullptr;
}

const WeightTensor& WeightFiles::at(std::string_view name) const {
  if (const WeightTensor* t = find(name)) return *t;
  throw ArgumentError("tensor '" + std::string(name) + "' is not in " + describe());
}

Tensor WeightFiles::view(std::string_view name) const {
  const WeightTensor& t = at(name);
  return file(t).view(name);
}

std::string WeightFiles::describe() const {
  std::string out;
  for (const auto& f : files_) out += (out.empty() ? "" : ", ") + quoted(f->path());
  return out.empty() ? "no files" : out;
}

}  // namespace vramkit
