// A diffusers-layout model folder: `model_index.json` names the pipeline class and its components
// ("name": [library, class]; keys starting with '_' are metadata, a [null, null] entry is an absent
// component). Each component lives in the subfolder of its name with a `config.json` (or, for schedulers,
// `scheduler_config.json`) and, for models, its weights: one `*.safetensors.index.json` with its shards, or
// `*.safetensors` files. Components without weight files (tokenizer, scheduler) are listed without weights.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/model_files.h"

namespace vramkit {

struct ModelComponent {
  std::string name;        // "transformer"
  std::string library;     // "diffusers", "transformers"
  std::string class_name;  // "QwenImageTransformer2DModel"
  std::filesystem::path folder;
  bool folder_exists = false;
  std::filesystem::path config;        // config.json or scheduler_config.json; empty when neither exists
  std::optional<WeightFiles> weights;  // absent when the folder holds no weight file at all
};

class ModelFolder {
 public:
  // True when `path` is a folder holding model_index.json.
  static bool is_model_folder(const std::filesystem::path& path);
  // Reads model_index.json and opens the weights of every component. Throws ArgumentError when `root` has no
  // model_index.json, FormatError when it is not a JSON object of [library, class] pairs, and whatever
  // WeightFiles::open throws for a component's weights (pickle-only weights included).
  static ModelFolder open(const std::filesystem::path& root);

  const std::filesystem::path& root() const { return root_; }
  const std::string& pipeline_class() const { return pipeline_class_; }          // "_class_name"
  const std::vector<ModelComponent>& components() const { return components_; }  // sorted by name
  const ModelComponent* find(std::string_view name) const;
  // Throws ArgumentError naming the component and listing the folder's components.
  const ModelComponent& component(std::string_view name) const;

 private:
  std::filesystem::path root_;
  std::string pipeline_class_;
  std::vector<ModelComponent> components_;
};

}  // namespace vramkit
