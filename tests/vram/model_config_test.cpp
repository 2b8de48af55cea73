#include "vram/model_config.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include "io/safetensors.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

TEST(ModelConfig, OpensByPatternOrByFilesAndRejectsAmbiguity) {
  const auto dir = std::filesystem::temp_directory_path() / ("vramkit_model_config_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "transformer");
  const std::vector<float> v = {1, 2, 3, 4};
  for (const char* shard : {"diffusion_pytorch_model-00001-of-00002.safetensors",
                            "diffusion_pytorch_model-00002-of-00002.safetensors"}) {
    write_safetensors(dir / "transformer" / shard, {{std::string(shard).substr(24, 5) + ".w", Tensor::from_floats({4}, v)}});
  }
  const auto by_pattern =
      ModelConfig::from_pattern(dir, "transformer/diffusion_pytorch_model*.safetensors", VramConfig::preset("disk")).open();
  EXPECT_EQ(by_pattern.size(), 2u);
  EXPECT_TRUE(by_pattern.contains("00001.w"));
  const auto by_files = ModelConfig::from_files({dir / "transformer" / "diffusion_pytorch_model-00002-of-00002.safetensors"}).open();
  EXPECT_EQ(by_files.size(), 1u);
  EXPECT_THROW(ModelConfig{}.open(), ArgumentError);
  ModelConfig both = ModelConfig::from_pattern(dir, "transformer/*.safetensors");
  both.files = {dir};
  EXPECT_THROW(both.open(), ArgumentError);
  try {
    ModelConfig::from_pattern(dir, "vae/*.safetensors").open();
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("vae/*.safetensors"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vramkit
