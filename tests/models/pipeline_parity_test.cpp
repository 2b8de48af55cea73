// Parity of the text-to-image pipeline with diffusers' QwenImagePipeline, end to end: a tiny random-weight
// Qwen-Image in the real folder layout (tests/data/qwen_image_pipeline_tiny, written with the images the
// reference generates by tools/golden/make_qwen_image_pipeline_golden.py) run from the same packed latents with
// the same prompt, negative prompt, true CFG scale, steps and size. Both sides compute in float32 with the same
// bf16-rounded weights, so they differ only by float rounding: every 8-bit value must be within 1 of the
// reference's (a value on a rounding boundary may land on either side). The same run streamed (weights stored
// in bf16, nothing resident) must give exactly the resident run's pixels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "vramkit/image.h"
#include "vramkit/pipeline.h"

namespace vramkit {
namespace {

const std::filesystem::path kModel = std::filesystem::path(VRAMKIT_TEST_DATA) / "qwen_image_pipeline_tiny";

// A case of cases.json: the call's parameters and the reference's image.
struct ParityCase {
  std::string name;
  GenerateOptions options;
  Image expected;
};

std::vector<ParityCase> read_cases() {
  std::ifstream in(kModel / "cases.json");
  if (!in) throw std::runtime_error("cannot open " + (kModel / "cases.json").string());
  std::vector<ParityCase> cases;
  for (const nlohmann::json& c : nlohmann::json::parse(in)) {
    GenerateOptions o;
    o.prompt = c.at("prompt").get<std::string>();
    if (c.at("negative_prompt").is_null())
      o.negative_prompt.reset();
    else
      o.negative_prompt = c.at("negative_prompt").get<std::string>();
    o.cfg = c.at("true_cfg_scale").get<float>();
    o.steps = c.at("steps").get<int>();
    o.width = c.at("width").get<int>();
    o.height = c.at("height").get<int>();
    o.max_sequence_length = c.at("max_sequence_length").get<int>();
    o.latents = kModel / c.at("latents").get<std::string>();
    o.vae_tiling = "never";  // the reference decodes in one pass (auto could tile under the streamed budget)
    cases.push_back({c.at("name").get<std::string>(), o, read_png(kModel / c.at("expected").get<std::string>())});
  }
  return cases;
}

// A --vram-config file that makes every component compute in float32, as the reference does; removed on exit.
class Float32VramConfig {
 public:
  Float32VramConfig()
      : path_(std::filesystem::temp_directory_path() / ("vramkit_parity_" + std::to_string(getpid()) + ".json")) {
    std::ofstream(path_) << R"({"computation_dtype": "float32"})";
  }
  ~Float32VramConfig() { std::filesystem::remove(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

PipelineConfig float32_pipeline(const std::filesystem::path& vram_config, const std::string& offload,
                                const std::string& storage_dtype = "", const std::string& vram_limit = "") {
  PipelineConfig c;
  c.model = kModel;
  c.device = "emu:1";
  c.offload = offload;
  c.storage_dtype = storage_dtype;
  c.vram_limit = vram_limit;
  c.vram_config = vram_config;
  return c;
}

TEST(PipelineParity, MatchesDiffusersToOneLevelPerValue) {
  const std::vector<ParityCase> cases = read_cases();
  ASSERT_EQ(cases.size(), 2u);
  const Float32VramConfig vram_config;
  Pipeline resident(float32_pipeline(vram_config.path(), "none"));
  Pipeline streamed(float32_pipeline(vram_config.path(), "dynamic", "bf16", "0"));
  for (const ParityCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Image image = resident.generate(c.options);
    ASSERT_EQ(image.width, c.expected.width);
    ASSERT_EQ(image.height, c.expected.height);
    ASSERT_EQ(image.channels, 3);
    ASSERT_EQ(c.expected.channels, 3);
    ASSERT_EQ(image.pixels.size(), c.expected.pixels.size());
    int max_difference = 0;
    std::size_t differing = 0;
    double sum = 0;
    for (std::size_t i = 0; i < image.pixels.size(); ++i) {
      const int d = std::abs(int{image.pixels[i]} - int{c.expected.pixels[i]});
      max_difference = std::max(max_difference, d);
      differing += d != 0;
      sum += d;
    }
    std::cout << "[ parity   ] " << c.name << ": max |ours - diffusers| " << max_difference << ", mean "
              << sum / static_cast<double>(image.pixels.size()) << ", " << differing << " of "
              << image.pixels.size() << " values differ\n";
    EXPECT_LE(max_difference, 1);

    EXPECT_EQ(streamed.generate(c.options).pixels, image.pixels);
    EXPECT_GT(streamed.last_stats().bytes_host_to_device, 0u);  // the weights really were streamed
  }
}

}  // namespace
}  // namespace vramkit
