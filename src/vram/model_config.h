// ModelConfig: one pipeline component as DiffSynth-Studio users describe it — a model folder with a file
// pattern (`transformer/diffusion_pytorch_model*.safetensors`), or explicit files — plus its VramConfig.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "io/model_files.h"
#include "vram/vram_config.h"

namespace vramkit {

struct ModelConfig {
  std::filesystem::path folder;              // with `pattern`
  std::string pattern;                       // DiffSynth-Studio's origin_file_pattern, relative to `folder`
  std::vector<std::filesystem::path> files;  // or explicit safetensors files / index files
  VramConfig vram;

  static ModelConfig from_pattern(std::filesystem::path folder, std::string pattern, VramConfig vram = {});
  static ModelConfig from_files(std::vector<std::filesystem::path> files, VramConfig vram = {});

  // Resolves and opens the weights. Throws ArgumentError when both or neither of (folder + pattern) and
  // files are given, and whatever resolve_model_files / WeightFiles::open throw.
  WeightFiles open() const;
};

}  // namespace vramkit
