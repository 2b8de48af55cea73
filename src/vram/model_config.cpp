#include "vram/model_config.h"

#include "vramkit/error.h"

namespace vramkit {

ModelConfig ModelConfig::from_pattern(std::filesystem::path folder, std::string pattern, VramConfig vram) {
  ModelConfig c;
  c.folder = std::move(folder);
  c.pattern = std::move(pattern);
  c.vram = std::move(vram);
  return c;
}

ModelConfig ModelConfig::from_files(std::vector<std::filesystem::path> files, VramConfig vram) {
  ModelConfig c;
  c.files = std::move(files);
  c.vram = std::move(vram);
  return c;
}

WeightFiles ModelConfig::open() const {
  const bool by_pattern = !folder.empty();
  if (by_pattern == !files.empty())
    throw ArgumentError("a model config needs either a folder with a file pattern or a list of files, not " +
                        std::string(by_pattern ? "both" : "neither"));
  return by_pattern ? WeightFiles::open_pattern(folder, pattern) : WeightFiles::open(files);
}

}  // namespace vramkit
