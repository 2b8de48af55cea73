// The Qwen-Image transformer's config and key set: config.json read from the file, the full-size module list
// against the reference enumeration (tests/data/qwen_image_dit_full_keys.txt, the transformer part of
// qwen-image-keys.txt), and weight validation listing every problem in one error.
#include "models/qwen_image/dit_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "io/safetensors.h"
#include "model_test_util.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

const std::filesystem::path kDitData = VRAMKIT_TEST_DATA;
const std::filesystem::path kTinyDitConfig = kDitData / "qwen_image_dit_tiny" / "transformer";

std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no FormatError";
  return {};
}

TEST(DitConfig, ReadsEveryValueFromTheFile) {
  const DitConfig c = DitConfig::from_json_file(kTinyDitConfig / "config.json");
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 2);
  EXPECT_EQ(c.attention_head_dim, 32);
  EXPECT_EQ(c.joint_attention_dim, 48);
  EXPECT_EQ(c.in_channels, 64);
  EXPECT_EQ(c.out_channels, 16);
  EXPECT_EQ(c.patch_size, 2);
  EXPECT_EQ(c.axes_dims_rope, (std::array<std::int64_t, 3>{8, 12, 12}));
  EXPECT_EQ(c.inner_dim(), 64);
}

TEST(DitConfig, RejectsInconsistentAndUnsupportedConfigs) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("vramkit_dit_config_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto write = [&](const std::string& text) {
    std::ofstream(dir / "config.json") << text;
    return dir / "config.json";
  };
  EXPECT_THROW(DitConfig::from_json_file(write(R"({"attention_head_dim": 64})")),
               FormatError);  // axes sum 128
  EXPECT_THROW(DitConfig::from_json_file(write(R"({"num_layers": "60"})")), FormatError);
  EXPECT_THROW(DitConfig::from_json_file(write(R"({"guidance_embeds": true})")), ArgumentError);
  EXPECT_THROW(DitConfig::from_json_file(write(R"({"zero_cond_t": true})")), ArgumentError);
  EXPECT_THROW(DitConfig::from_json_file(write("[1, 2]")), FormatError);
  EXPECT_THROW(DitConfig::from_json_file(dir / "absent.json"), IoError);
  std::filesystem::remove_all(dir);
}

TEST(DitConfig, FullSizeModelMatchesTheReleasedCheckpoint) {
  const DitConfig full;  // the class defaults are Qwen-Image's config
  EXPECT_EQ(dit_parameter_count(full), 20'430'401'088);
  std::map<std::string, Shape> ours;
  std::size_t count = 0;
  for (const DitModule& m : dit_modules(full))
    for (const ExpectedTensor& t : m.tensors) ours.emplace(t.name, t.shape), ++count;
  EXPECT_EQ(count, 1933u);
  EXPECT_EQ(ours, test::dit_reference_keys(60));
  const auto units = dit_units(full);
  EXPECT_EQ(units.size(), 5u + 60u * 18u + 2u);
  EXPECT_EQ(units.front().name, "img_in");
  EXPECT_EQ(units[5].name, "transformer_blocks.0.img_mod.1");
  EXPECT_EQ(units.back().name, "proj_out");

  // The two managed models partition the units, each keeping the execution order.
  const auto modulation = dit_units(full, DitUnitGroup::modulation);
  const auto streams = dit_units(full, DitUnitGroup::token_streams);
  EXPECT_EQ(modulation.size(), 2u + 60u * 2u + 1u);
  EXPECT_EQ(streams.size(), units.size() - modulation.size());
  EXPECT_EQ(modulation[2].name, "transformer_blocks.0.img_mod.1");
  EXPECT_EQ(modulation[3].name, "transformer_blocks.0.txt_mod.1");
  EXPECT_EQ(modulation.back().name, "norm_out.linear");
  EXPECT_EQ(streams[3].name, "transformer_blocks.0.attn.to_q");
  EXPECT_EQ(streams.back().name, "proj_out");
  // A third of the parameters are timestep-only: that much less to stream per step once precomputed.
  std::int64_t timestep_only = 0;
  for (const DitModule& m : dit_modules(full))
    if (m.timestep_only)
      for (const ExpectedTensor& t : m.tensors) timestep_only += t.shape.numel();
  EXPECT_EQ(timestep_only, 6'826'094'592);
}

TEST(DitConfig, ValidationListsEveryProblemAtOnce) {
  const DitConfig c = DitConfig::from_json_file(kTinyDitConfig / "config.json");
  EXPECT_NO_THROW(validate_dit_weights(c, WeightFiles::open(kTinyDitConfig)));

  const auto dir =
      std::filesystem::temp_directory_path() / ("vramkit_dit_validate_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const DitModule& m : dit_modules(c))
    for (const ExpectedTensor& t : m.tensors) {
      if (t.name == "proj_out.bias" || t.name == "transformer_blocks.1.attn.norm_k.weight") continue;
      const Shape shape = t.name == "txt_in.weight" ? Shape{64, 47} : t.shape;
      tensors.emplace_back(t.name, Tensor::zeros(shape, DType::bf16));
    }
  tensors.emplace_back("pos_embed.weight", Tensor::zeros({4}, DType::bf16));
  write_safetensors(dir / "bad.safetensors", tensors);
  const std::string message =
      error_message([&] { validate_dit_weights(c, WeightFiles::open(dir / "bad.safetensors")); });
  EXPECT_NE(message.find("2 missing"), std::string::npos) << message;
  EXPECT_NE(message.find("proj_out.bias"), std::string::npos) << message;
  EXPECT_NE(message.find("transformer_blocks.1.attn.norm_k.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("1 unexpected:\n    pos_embed.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("txt_in.weight is [64, 47], expected [64, 48]"), std::string::npos) << message;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vramkit::qwen_image
