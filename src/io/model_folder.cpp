#include "io/model_folder.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "io/glob.h"
#include "vramkit/error.h"

namespace vramkit {

namespace fs = std::filesystem;

namespace {

constexpr const char* kModelIndex = "model_index.json";

bool holds_weight_files(const fs::path& folder) {
  for (const char* pattern :
       {"*.safetensors", "*.safetensors.index.json", "*.bin", "*.pt", "*.pth", "*.ckpt"})
    if (!glob_in_folder(folder, pattern).empty()) return true;
  return false;
}

fs::path find_config(const fs::path& folder) {
  std::error_code ec;
  for (const char* name : {"config.json", "scheduler_config.json"})
    if (fs::is_regular_file(folder / name, ec)) return folder / name;
  return {};
}

nlohmann::json read_model_index(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw IoError("'" + path.string() + "': cannot open for reading");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError("'" + path.string() + "': invalid JSON: " + e.what());
  }
}

}  // namespace

bool ModelFolder::is_model_folder(const fs::path& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::is_regular_file(path / kModelIndex, ec);
}

ModelFolder ModelFolder::open(const fs::path& root) {
  if (!is_model_folder(root))
    throw ArgumentError("'" + root.string() + "' is not a diffusers model folder (no " + kModelIndex + ")");
  const fs::path index_path = root / kModelIndex;
  const nlohmann::json index = read_model_index(index_path);
  if (!index.is_object()) throw FormatError("'" + index_path.string() + "' is not a JSON object");

  ModelFolder folder;
  folder.root_ = root;
  if (const auto it = index.find("_class_name"); it != index.end() && it->is_string())
    folder.pipeline_class_ = it->get<std::string>();
  for (const auto& [name, value] : index.items()) {
    if (name.empty() || name.front() == '_') continue;
    const bool pair = value.is_array() && value.size() == 2;
    if (pair && value[0].is_null() && value[1].is_null()) continue;  // a component the pipeline goes without
    if (!pair || !value[0].is_string() || !value[1].is_string())
      throw FormatError("'" + index_path.string() + "': component '" + name +
                        "' is not a [library, class] pair of strings");
    ModelComponent component;
    component.name = name;
    component.library = value[0].get<std::string>();
    component.class_name = value[1].get<std::string>();
    component.folder = root / name;
    std::error_code ec;
    component.folder_exists = fs::is_directory(component.folder, ec);
    if (component.folder_exists) {
      component.config = find_config(component.folder);
      if (holds_weight_files(component.folder)) component.weights = WeightFiles::open(component.folder);
    }
    folder.components_.push_back(std::move(component));
  }
  std::sort(folder.components_.begin(), folder.components_.end(),
            [](const ModelComponent& a, const ModelComponent& b) { return a.name < b.name; });
  return folder;
}

const ModelComponent* ModelFolder::find(std::string_view name) const {
  for (const ModelComponent& c : components_)
    if (c.name == name) return &c;
  return nullptr;
}

const ModelComponent& ModelFolder::component(std::string_view name) const {
  if (const ModelComponent* c = find(name)) return *c;
  std::string names;
  for (const ModelComponent& c : components_) names += (names.empty() ? "" : ", ") + c.name;
  throw ArgumentError("model folder '" + root_.string() + "' has no component '" + std::string(name) +
                      "' (it has: " + names + ")");
}

}  // namespace vramkit
