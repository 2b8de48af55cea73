// The Qwen-Image text encoder's config and key set: config.json in the flat (transformers 4.x) and nested (5.x)
// forms, the full-size module list against the spec's counts, both key namings, and weight validation listing
// every problem in one error.
#include "models/qwen_image/text_encoder_config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "io/safetensors.h"
#include "models/text_encoder_test_util.h"
#include "ops/op_test_util.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

using vramkit::test::expect_error;

// The language-model part of Qwen-Image's text_encoder/config.json (flat, as transformers 4.x wrote it).
constexpr const char* kReleasedFlatConfig = R"({
  "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
  "hidden_act": "silu", "hidden_size": 3584, "intermediate_size": 18944, "max_position_embeddings": 128000,
  "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4, "rms_norm_eps": 1e-06,
  "rope_scaling": {"mrope_section": [16, 24, 24], "rope_type": "default", "type": "default"},
  "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": false, "use_sliding_window": false,
  "vocab_size": 152064, "vision_config": {"depth": 32, "hidden_size": 1280, "num_heads": 16}
})";

class TextEncoderConfigFile : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::fresh_temp_dir("te_config"); }
  std::filesystem::path write(const std::string& text) {
    std::ofstream(dir_ / "config.json") << text;
    return dir_ / "config.json";
  }
  std::filesystem::path dir_;
};

TEST_F(TextEncoderConfigFile, ReadsTheFlatForm) {
  const TextEncoderConfig c = TextEncoderConfig::from_json_file(write(kReleasedFlatConfig));
  EXPECT_EQ(c.hidden_size, 3584);
  EXPECT_EQ(c.num_hidden_layers, 28);
  EXPECT_EQ(c.num_attention_heads, 28);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.intermediate_size, 18944);
  EXPECT_EQ(c.vocab_size, 152064);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.mrope_section, (std::array<std::int64_t, 3>{16, 24, 24}));
  EXPECT_EQ(c.head_dim(), 128);
  EXPECT_EQ(c.kv_dim(), 512);
}

// The golden folder's config.json is what transformers 5.x save_pretrained writes (text_config,
// rope_parameters); the top level's vision rope_theta (1e4) must not leak into the text config.
TEST_F(TextEncoderConfigFile, ReadsTheNestedForm) {
  const TextEncoderConfig c =
      TextEncoderConfig::from_json_file(test::kGoldenTextEncoder / "text_encoder" / "config.json");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.intermediate_size, 128);
  EXPECT_EQ(c.vocab_size, 152064);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.mrope_section, (std::array<std::int64_t, 3>{2, 3, 3}));
  // Keys only at the top level are not read in the nested form (transformers builds the text config from
  // text_config alone); 4.x "mrope" rope type is the default RoPE.
  const TextEncoderConfig d = TextEncoderConfig::from_json_file(write(R"({"hidden_size": 99, "text_config": {
      "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
      "num_key_value_heads": 1, "intermediate_size": 16, "rope_theta": 5000.0,
      "rope_scaling": {"type": "mrope", "mrope_section": [1, 0, 1]}}})"));
  EXPECT_EQ(d.hidden_size, 8);
  EXPECT_EQ(d.rope_theta, 5000.0);
  EXPECT_EQ(d.rms_norm_eps, 1e-5);  // transformers' class default when absent
}

TEST_F(TextEncoderConfigFile, RejectsBadConfigsNamingTheKey) {
  const std::string dims = R"("vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
      "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 16)";
  const auto config = [&](const std::string& extra) { return write("{" + dims + extra + "}"); };
  EXPECT_NO_THROW(TextEncoderConfig::from_json_file(config(R"(, "rope_scaling": {"mrope_section": [1, 1, 0]})")));
  expect_error<FormatError>([&] { TextEncoderConfig::from_json_file(write(R"({"hidden_size": 8})")); },
                            {"config.json", "lacks vocab_size"});
  expect_error<FormatError>(
      [&] { TextEncoderConfig::from_json_file(write(R"({"text_config": {"vocab_size": 10}})")); },
      {"lacks text_config.hidden_size"});
  expect_error<FormatError>([&] { TextEncoderConfig::from_json_file(config(R"(, "hidden_size": "8")")); },
                            {"hidden_size must be a positive integer"});
  expect_error<FormatError>([&] { TextEncoderConfig::from_json_file(config(R"(, "num_attention_heads": 3)")); },
                            {"hidden_size 8 is not a multiple of num_attention_heads 3"});
  expect_error<FormatError>(
      [&] { TextEncoderConfig::from_json_file(config(R"(, "num_attention_heads": 4, "num_key_value_heads": 3)")); },
      {"num_attention_heads 4 is not a multiple of num_key_value_heads 3"});
  expect_error<FormatError>(
      [&] { TextEncoderConfig::from_json_file(config(R"(, "rope_scaling": {"mrope_section": [16, 24, 24]})")); },
      {"mrope_section [16, 24, 24] must sum to head_dim / 2 = 2"});
  expect_error<FormatError>([&] { TextEncoderConfig::from_json_file(config(R"(, "head_dim": 8)")); },
                            {"head_dim 8 differs from hidden_size / num_attention_heads = 4"});
  expect_error<FormatError>([&] { TextEncoderConfig::from_json_file(config(R"(, "rms_norm_eps": -1)")); },
                            {"rms_norm_eps must be a positive number"});
  expect_error<ArgumentError>([&] { TextEncoderConfig::from_json_file(config(R"(, "hidden_act": "gelu")")); },
                              {"hidden_act = \"gelu\" is not supported"});
  expect_error<ArgumentError>(
      [&] { TextEncoderConfig::from_json_file(config(R"(, "use_sliding_window": true)")); },
      {"use_sliding_window = true is not supported"});
  expect_error<ArgumentError>(
      [&] {
        TextEncoderConfig::from_json_file(config(R"(, "rope_scaling": {"rope_type": "yarn", "factor": 4.0})"));
      },
      {"rope_scaling.rope_type = \"yarn\" is not supported"});
  expect_error<FormatError>([&] { TextEncoderConfig::from_json_file(write("[1]")); }, {"must be a JSON object"});
  expect_error<FormatError>([&] { TextEncoderConfig::from_json_file(write("{")); }, {"is not valid JSON"});
  EXPECT_THROW(TextEncoderConfig::from_json_file(dir_ / "absent.json"), IoError);
}

// Spec §4.1-4.2: 28 layers of 233,057,792 parameters, the embedding and the final norm.
TEST_F(TextEncoderConfigFile, FullSizeModuleListMatchesTheSpec) {
  const TextEncoderConfig c = TextEncoderConfig::from_json_file(write(kReleasedFlatConfig));
  EXPECT_EQ(text_encoder_parameter_count(c), 152064ll * 3584 + 28ll * 233'057'792 + 3584);
  EXPECT_EQ(text_encoder_parameter_count(c), 7'070'619'136ll - 0);  // spec §1: the LLM without lm_head
  const auto legacy = text_encoder_units(c, TextEncoderKeyNaming::legacy);
  ASSERT_EQ(legacy.size(), 28u * 9u + 1u);  // the embedding is looked up on the host, not a unit
  EXPECT_EQ(legacy[0].name, "model.layers.0.input_layernorm");
  EXPECT_EQ(legacy[1].tensors, (std::vector<std::string>{"model.layers.0.self_attn.q_proj.weight",
                                                         "model.layers.0.self_attn.q_proj.bias"}));
  EXPECT_EQ(legacy[4].tensors, std::vector<std::string>{"model.layers.0.self_attn.o_proj.weight"});
  EXPECT_EQ(legacy[8].name, "model.layers.0.mlp.down_proj");
  EXPECT_EQ(legacy.back().name, "model.norm");
  const auto nested = text_encoder_units(c, TextEncoderKeyNaming::language_model);
  EXPECT_EQ(nested[9].name, "model.language_model.layers.1.input_layernorm");
  const auto modules = text_encoder_modules(c, TextEncoderKeyNaming::legacy);
  EXPECT_EQ(modules[3].tensors[0].shape, (Shape{512, 3584}));   // k_proj
  EXPECT_EQ(modules[7].tensors[0].shape, (Shape{18944, 3584}));  // gate_proj
}

TEST(TextEncoderKeys, UnusedTensorsAndNamingDetection) {
  for (const char* name : {"visual.blocks.0.attn.qkv.weight", "model.visual.merger.mlp.0.bias", "lm_head.weight"})
    EXPECT_TRUE(is_unused_text_encoder_tensor(name)) << name;
  for (const char* name : {"model.embed_tokens.weight", "model.language_model.norm.weight", "visualx.weight"})
    EXPECT_FALSE(is_unused_text_encoder_tensor(name)) << name;
  EXPECT_EQ(text_encoder_key_prefix(TextEncoderKeyNaming::legacy), "model.");
  EXPECT_EQ(text_encoder_key_prefix(TextEncoderKeyNaming::language_model), "model.language_model.");
}

TEST(TextEncoderKeys, ValidationListsEveryProblemAtOnce) {
  const auto dir = test::fresh_temp_dir("te_validate");
  const TextEncoderConfig c =
      TextEncoderConfig::from_json_file(test::kGoldenTextEncoder / "text_encoder" / "config.json");
  for (const TextEncoderKeyNaming naming : {TextEncoderKeyNaming::legacy, TextEncoderKeyNaming::language_model}) {
    auto tensors = test::full_text_encoder_tensors(naming);
    write_safetensors(dir / "good.safetensors", tensors);
    const WeightFiles good = WeightFiles::open(dir / "good.safetensors");
    EXPECT_EQ(detect_text_encoder_key_naming(good), naming);
    EXPECT_NO_THROW(validate_text_encoder_weights(c, naming, good));
  }
  std::vector<std::pair<std::string, Tensor>> bad;
  for (auto& [name, tensor] : test::full_text_encoder_tensors(TextEncoderKeyNaming::legacy)) {
    if (name == "model.layers.1.self_attn.k_proj.bias" || name == "model.norm.weight") continue;
    if (name == "model.layers.0.self_attn.v_proj.weight")
      bad.emplace_back(name, Tensor::zeros({64, 64}, DType::bf16));
    else
      bad.emplace_back(name, tensor);
  }
  bad.emplace_back("model.layers.2.input_layernorm.weight", Tensor::zeros({64}, DType::bf16));
  write_safetensors(dir / "bad.safetensors", bad);
  expect_error<FormatError>(
      [&] { validate_text_encoder_weights(c, TextEncoderKeyNaming::legacy, WeightFiles::open(dir / "bad.safetensors")); },
      {"bad.safetensors", "2 missing:\n    model.layers.1.self_attn.k_proj.bias\n    model.norm.weight",
       "1 unexpected:\n    model.layers.2.input_layernorm.weight",
       "model.layers.0.self_attn.v_proj.weight is [64, 64], expected [32, 64]"});
  // The legacy key set read as the other naming: everything missing, nothing taken for the other.
  expect_error<FormatError>(
      [&] {
        validate_text_encoder_weights(c, TextEncoderKeyNaming::language_model,
                                      WeightFiles::open(dir / "bad.safetensors"));
      },
      {"model.language_model.embed_tokens.weight"});
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vramkit::qwen_image
