// The Qwen-Image VAE's config and key set: vae/config.json read from the file (and its errors), the full-size
// module lists against the reference enumeration (tests/data/qwen_image_vae_full_keys.txt, the VAE part of
// qwen-image-keys.txt), and weight validation listing every problem in one error.
#include "models/qwen_image/vae_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>

#include "io/safetensors.h"
#include "model_test_util.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

const std::filesystem::path kVaeData = VRAMKIT_TEST_DATA;
const std::filesystem::path kTinyVaeConfig = kVaeData / "qwen_image_vae_tiny" / "vae";

std::string format_error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no FormatError";
  return {};
}

class TempDir {
 public:
  explicit TempDir(const std::string& tag)
      : path_(std::filesystem::temp_directory_path() / ("vramkit_" + tag + "_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(VaeConfig, ReadsEveryValueFromTheFile) {
  const VaeConfig c = VaeConfig::from_json_file(kTinyVaeConfig / "config.json");
  EXPECT_EQ(c.base_dim, 4);
  EXPECT_EQ(c.z_dim, 16);
  EXPECT_EQ(c.dim_mult, (std::vector<std::int64_t>{1, 2, 4, 4}));
  EXPECT_EQ(c.num_res_blocks, 1);
  EXPECT_EQ(c.temperal_downsample, (std::vector<bool>{false, true, true}));
  EXPECT_EQ(c.input_channels, 3);
  ASSERT_EQ(c.latents_mean.size(), 16u);
  ASSERT_EQ(c.latents_std.size(), 16u);
  EXPECT_DOUBLE_EQ(c.latents_mean[0], -0.7571);
  EXPECT_DOUBLE_EQ(c.latents_mean[15], -0.2921);
  EXPECT_DOUBLE_EQ(c.latents_std[0], 2.8184);
  EXPECT_DOUBLE_EQ(c.latents_std[15], 1.916);
  EXPECT_EQ(c.spatial_factor(), 8);
  EXPECT_EQ(c.decoder_dims(), (std::vector<std::int64_t>{16, 16, 16, 8, 4}));
  EXPECT_EQ(c.encoder_dims(), (std::vector<std::int64_t>{4, 4, 8, 16, 16}));
}

TEST(VaeConfig, RejectsInconsistentAndUnsupportedConfigs) {
  const TempDir dir("vae_config");
  const auto write = [&](const std::string& text) {
    std::ofstream(dir.path() / "config.json") << text;
    return dir.path() / "config.json";
  };
  const auto message = [&](const std::string& text) {
    return format_error_message([&] { VaeConfig::from_json_file(write(text)); });
  };
  EXPECT_NE(message(R"({"temperal_downsample": [false, true]})").find("temperal_downsample"), std::string::npos);
  EXPECT_NE(message(R"({"base_dim": "96"})").find("base_dim must be a positive integer"), std::string::npos);
  EXPECT_NE(message(R"({"dim_mult": []})").find("dim_mult"), std::string::npos);
  EXPECT_NE(message(R"({"latents_std": [1, 2]})").find("latents_std must be a list of 16 numbers"), std::string::npos);
  // z_dim 8 with the default 16 latents_mean values left implicit.
  EXPECT_NE(message(R"({"z_dim": 8})").find("latents_mean"), std::string::npos);
  EXPECT_NE(message(R"({"latents_std": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]})").find("positive"),
            std::string::npos);
  EXPECT_NE(message(R"({"base_dim": 3, "dim_mult": [1, 1], "temperal_downsample": [false]})").find("even"), std::string::npos);
  EXPECT_NE(message("[1, 2]").find("JSON object"), std::string::npos);
  EXPECT_NE(message("{").find("not valid JSON"), std::string::npos);
  EXPECT_THROW(VaeConfig::from_json_file(write(R"({"attn_scales": [1.0]})")), ArgumentError);
  EXPECT_THROW(VaeConfig::from_json_file(write(R"({"_class_name": "AutoencoderKLWan"})")), ArgumentError);
  EXPECT_THROW(VaeConfig::from_json_file(dir.path() / "absent.json"), IoError);
  // Every key absent: the release's values.
  const VaeConfig defaults = VaeConfig::from_json_file(write("{}"));
  EXPECT_EQ(defaults.base_dim, 96);
  EXPECT_EQ(defaults.num_res_blocks, 2);
}

std::map<std::string, Shape> reference_keys() {
  const auto list = vramkit::test::read_key_list(kVaeData / "qwen_image_vae_full_keys.txt");
  return {list.begin(), list.end()};
}

TEST(VaeConfig, FullSizeModelMatchesTheReleasedCheckpoint) {
  const VaeConfig full;  // the class defaults are Qwen-Image's config
  std::map<std::string, Shape> ours;
  std::map<VaePart, std::int64_t> params;
  std::map<VaePart, std::size_t> counts;
  for (const VaePart part : {VaePart::decoder, VaePart::encoder})
    for (const VaeModule& m : vae_modules(full, part))
      for (const ExpectedTensor& t : m.tensors) {
        EXPECT_TRUE(ours.emplace(t.name, t.shape).second) << t.name;
        params[part] += t.shape.numel();
        ++counts[part];
      }
  EXPECT_EQ(ours, reference_keys());
  EXPECT_EQ(counts[VaePart::decoder], 108u);
  EXPECT_EQ(params[VaePart::decoder], 73'295'603);
  EXPECT_EQ(params[VaePart::encoder], 53'596'928);

  // Units in execution order; the time_conv of the 3-D resamplers are expected tensors without a unit.
  const auto decoder = vae_units(full, VaePart::decoder);
  ASSERT_EQ(decoder.size(), 67u);
  EXPECT_EQ(decoder.front().name, "post_quant_conv");
  EXPECT_EQ(decoder[1].name, "decoder.conv_in");
  EXPECT_EQ(decoder[2].name, "decoder.mid_block.resnets.0.norm1");
  EXPECT_EQ(decoder.back().name, "decoder.conv_out");
  const auto encoder = vae_units(full, VaePart::encoder);
  ASSERT_EQ(encoder.size(), 52u);
  EXPECT_EQ(encoder.front().name, "encoder.conv_in");
  EXPECT_EQ(encoder.back().name, "quant_conv");
  std::size_t shortcut = 0, norm1 = 0;
  for (std::size_t i = 0; i < decoder.size(); ++i) {
    EXPECT_EQ(decoder[i].name.find("time_conv"), std::string::npos);
    if (decoder[i].name == "decoder.up_blocks.1.resnets.0.conv_shortcut") shortcut = i;
    if (decoder[i].name == "decoder.up_blocks.1.resnets.0.norm1") norm1 = i;
  }
  EXPECT_EQ(norm1, shortcut + 1) << "the shortcut runs first, as in the reference";
}

TEST(VaeConfig, ValidationListsEveryProblemAtOnce) {
  const VaeConfig c = VaeConfig::from_json_file(kTinyVaeConfig / "config.json");
  const WeightFiles tiny = WeightFiles::open(kTinyVaeConfig);
  EXPECT_NO_THROW(validate_vae_weights(c, VaePart::decoder, tiny));
  EXPECT_NO_THROW(validate_vae_weights(c, VaePart::encoder, tiny));

  const TempDir dir("vae_validate");
  // A decoder-only file: a decoder, but no encoder.
  std::vector<std::pair<std::string, Tensor>> decoder_only;
  for (const VaeModule& m : vae_modules(c, VaePart::decoder))
    for (const ExpectedTensor& t : m.tensors) decoder_only.emplace_back(t.name, Tensor::zeros(t.shape, DType::bf16));
  write_safetensors(dir.path() / "decoder.safetensors", decoder_only);
  const WeightFiles decoder_file = WeightFiles::open(dir.path() / "decoder.safetensors");
  EXPECT_NO_THROW(validate_vae_weights(c, VaePart::decoder, decoder_file));
  const std::string no_encoder =
      format_error_message([&] { validate_vae_weights(c, VaePart::encoder, decoder_file); });
  EXPECT_NE(no_encoder.find("Qwen-Image VAE encoder weights"), std::string::npos) << no_encoder;
  EXPECT_NE(no_encoder.find("encoder.conv_in.weight"), std::string::npos) << no_encoder;

  std::vector<std::pair<std::string, Tensor>> bad;
  for (const VaeModule& m : vae_modules(c, VaePart::decoder))
    for (const ExpectedTensor& t : m.tensors) {
      if (t.name == "decoder.conv_out.bias" || t.name == "decoder.mid_block.attentions.0.norm.gamma") continue;
      const Shape shape = t.name == "decoder.conv_in.weight" ? Shape{16, 16, 3, 3} : t.shape;
      bad.emplace_back(t.name, Tensor::zeros(shape, DType::bf16));
    }
  bad.emplace_back("decoder.head.0.gamma", Tensor::zeros({4}, DType::bf16));
  write_safetensors(dir.path() / "bad.safetensors", bad);
  const std::string message = format_error_message(
      [&] { validate_vae_weights(c, VaePart::decoder, WeightFiles::open(dir.path() / "bad.safetensors")); });
  EXPECT_NE(message.find("2 missing"), std::string::npos) << message;
  EXPECT_NE(message.find("decoder.conv_out.bias"), std::string::npos) << message;
  EXPECT_NE(message.find("decoder.mid_block.attentions.0.norm.gamma"), std::string::npos) << message;
  EXPECT_NE(message.find("1 unexpected:\n    decoder.head.0.gamma"), std::string::npos) << message;
  EXPECT_NE(message.find("decoder.conv_in.weight is [16, 16, 3, 3], expected [16, 16, 3, 3, 3]"), std::string::npos)
      << message;
}

}  // namespace
}  // namespace vramkit::qwen_image
