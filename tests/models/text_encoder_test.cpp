// The Qwen-Image text encoder forward against transformers' Qwen2_5_VLForConditionalGeneration (golden data
// of tools/golden/make_qwen_image_text_encoder_golden.py: a tiny random-weight model with the real vocabulary
// size, real token ids of the Qwen-Image prompt template, and the float32 post-norm last hidden states, for
// one unpadded prompt and a right-padded batch of two with its attention mask): the checks of
// text_encoder_checks.h on the emulated device, then left padding, both key namings, the units and bad
// inputs.
#include "models/qwen_image/text_encoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <optional>

#include "common/device_under_test.h"
#include "model_test_util.h"
#include "models/text_encoder_test_util.h"
#include "ops/op_test_util.h"
#include "text_encoder_checks.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {

namespace test {
VRAMKIT_INSTANTIATE_ON_DEVICE(Emu, TextEncoderOnDevice, vramkit::test::emu_device_under_test());
}  // namespace test

namespace {

using vramkit::test::emu_accelerator;
using vramkit::test::relative_l2;
using vramkit::test::with_computation;

using test::TextEncoderCase;

class TextEncoderParity : public ::testing::Test {
 protected:
  void SetUp() override { cases_ = test::load_text_encoder_cases(); }
  static const std::filesystem::path& model() { return test::shared_full_text_encoder(); }
  std::vector<TextEncoderCase> cases_;
};

// Left padding (the real tokens at the end): the positions count real tokens only, so each prompt gives what
// it gives alone and unpadded, up to the softmax's summation length (masked keys contribute exact zeros).
TEST_F(TextEncoderParity, LeftPaddedPromptMatchesItsUnpaddedRun) {
  VramManager manager(emu_accelerator(), {});
  auto encoder =
      QwenImageTextEncoder::open(manager, model(), with_computation(VramConfig::preset("none"), DType::f32));
  const TextEncoderCase& padded = cases_[1];
  const std::int64_t length = padded.input_ids.size(1);
  std::int64_t real = 0;
  for (const float m : padded.attention_mask.select(0, 1).to(DType::f32).to_floats()) real += m != 0;
  ASSERT_LT(real, length);
  const Tensor ids = padded.input_ids.select(0, 1).slice(0, 0, real).unsqueeze(0).contiguous();
  const Tensor alone = encoder->forward(ids);
  // The same tokens moved to the end of a row of pad ids, the mask to match.
  Tensor left_ids = Tensor::zeros({1, length}, DType::i64),
         left_mask = Tensor::zeros({1, length}, DType::i64);
  for (std::int64_t i = 0; i < length; ++i) {
    const bool is_real = i >= length - real;
    left_ids.data_as<std::int64_t>()[i] = is_real ? ids.data_as<std::int64_t>()[i - (length - real)] : 151643;
    left_mask.data_as<std::int64_t>()[i] = is_real ? 1 : 0;
  }
  const Tensor left = encoder->forward(left_ids, left_mask);
  EXPECT_LE(relative_l2(left.slice(1, length - real, length).contiguous(), alone), 1e-6);
  // And the reference's right-padded row agrees with both on the real tokens.
  EXPECT_LE(relative_l2(alone, padded.expected.select(0, 1).slice(0, 0, real).unsqueeze(0).contiguous()),
            1e-4);
}

// The newer key naming (model.language_model.*, model.visual.*) gives the same output as the legacy one.
TEST_F(TextEncoderParity, LanguageModelKeyNamingLoadsTheSameWeights) {
  const auto dir =
      test::write_full_text_encoder(test::fresh_temp_dir("te_naming"), TextEncoderKeyNaming::language_model);
  VramManager manager(emu_accelerator(), {});
  auto encoder =
      QwenImageTextEncoder::open(manager, dir, with_computation(VramConfig::preset("none"), DType::f32));
  EXPECT_EQ(encoder->key_naming(), TextEncoderKeyNaming::language_model);
  EXPECT_EQ(encoder->managed().units().front().name, "model.language_model.layers.0.input_layernorm");
  EXPECT_LE(relative_l2(encoder->forward(cases_[0].input_ids), cases_[0].expected), 1e-4);
  std::filesystem::remove_all(dir);
}

// Neither the vision tower nor lm_head becomes a unit, so neither is ever read; nor does the embedding, whose
// rows are looked up on the host.
TEST_F(TextEncoderParity, VisionTowerAndLmHeadAreNotUnits) {
  VramManager manager(emu_accelerator(), {});
  auto encoder = QwenImageTextEncoder::open(manager, model(), VramConfig::preset("none"));
  const WeightFiles files = WeightFiles::open(model() / "text_encoder");
  ASSERT_TRUE(files.contains("lm_head.weight"));
  ASSERT_TRUE(files.contains("visual.merger.mlp.0.weight"));
  const auto& units = encoder->managed().units();
  EXPECT_EQ(units.size(), 2u * 9u + 1u);
  for (const auto& unit : units)
    for (const WeightTensor* t : unit.sources)
      EXPECT_FALSE(is_unused_text_encoder_tensor(t->name())) << t->name();
}

TEST_F(TextEncoderParity, BadInputsAreClearErrors) {
  VramManager manager(emu_accelerator(), {});
  auto encoder =
      QwenImageTextEncoder::open(manager, model(), with_computation(VramConfig::preset("none"), DType::f32));
  Tensor ids = cases_[1].input_ids.clone();
  ids.data_as<std::int64_t>()[ids.size(1) + 3] = 152064;
  vramkit::test::expect_error<ArgumentError>(
      [&] { encoder->forward(ids); }, {"input_ids[1, 3] = 152064", "outside the vocabulary [0, 152064)"});
  ids.data_as<std::int64_t>()[ids.size(1) + 3] = -1;
  vramkit::test::expect_error<ArgumentError>([&] { encoder->forward(ids); }, {"input_ids[1, 3] = -1"});
  vramkit::test::expect_error<ShapeError>([&] { encoder->forward(cases_[1].input_ids.select(0, 0)); },
                                          {"input_ids must be [B, L]"});
  vramkit::test::expect_error<ShapeError>(
      [&] { encoder->forward(cases_[1].input_ids, cases_[1].attention_mask.slice(1, 0, 3)); },
      {"attention_mask must be [B, L]"});
  vramkit::test::expect_error<ArgumentError>([&] { encoder->forward(cases_[1].input_ids.to(DType::f32)); },
                                             {"input_ids must be i64 or i32"});
  // i32 ids are accepted and give the same result.
  EXPECT_EQ(encoder->forward(cases_[0].input_ids.to(DType::i32)).to_floats(),
            encoder->forward(cases_[0].input_ids).to_floats());
}

}  // namespace
}  // namespace vramkit::qwen_image
