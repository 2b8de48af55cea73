// `vramkit forward text_encoder` and `vramkit tokenize` run as a user runs them: the golden tiny text encoder
// (tools/golden/make_qwen_image_text_encoder_golden.py, rebuilt full-shape) streamed on the emulated device
// against transformers' output; the tiny checkpoint's tokenizer and text encoder end to end (tokenize, then
// forward), equal to the library called directly; the real vocabulary's template ids against the golden ids
// (skipped without ../shared); and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backends/emu/emu_accelerator.h"
#include "cli_runner.h"
#include "model_test_util.h"
#include "io/model_files.h"
#include "io/safetensors.h"
#include "models/qwen_image/text_encoder.h"
#include "models/text_encoder_test_util.h"

namespace vramkit {
namespace {

using vramkit::test::relative_l2;

using qwen_image::test::kGoldenTextEncoder;

const std::filesystem::path kTinyCheckpoint = VRAMKIT_TINY_QWEN_IMAGE_DIR;
const std::filesystem::path kRealVocabulary = VRAMKIT_QWEN_TOKENIZER_DIR;
constexpr const char* kGoldenPrompt = "A cat sitting on a windowsill, watercolor style.";

// The ids `vramkit tokenize` prints, as an i64 [1, L] tensor.
Tensor tokenize(const std::vector<std::string>& args, const std::filesystem::path& scratch) {
  std::vector<std::string> all{"tokenize"};
  all.insert(all.end(), args.begin(), args.end());
  const auto r = test::run_cli(all, scratch);
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  const auto ids = nlohmann::json::parse(r.stdout_text).get<std::vector<std::int64_t>>();
  Tensor t = Tensor::zeros({1, static_cast<std::int64_t>(ids.size())}, DType::i64);
  std::copy(ids.begin(), ids.end(), t.data_as<std::int64_t>());
  return t;
}

class TextEncoderCli : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = test::scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::ofstream(scratch_ / "f32.json") << R"({"computation_dtype": "float32"})";
  }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  test::CliResult forward(const std::filesystem::path& model, std::vector<std::string> extra) const {
    std::vector<std::string> a{"forward", "text_encoder", "--model", model.string(),
                               "--inputs", (scratch_ / "inputs.safetensors").string(),
                               "--out", (scratch_ / "out.safetensors").string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return test::run_cli(a, scratch_);
  }

  std::filesystem::path scratch_;
};

TEST_F(TextEncoderCli, StreamedRunMatchesTheReference) {
  const auto model = qwen_image::test::write_full_text_encoder(scratch_ / "model");
  const WeightFiles golden = WeightFiles::open(kGoldenTextEncoder / "golden.safetensors");
  write_safetensors(scratch_ / "inputs.safetensors", {{"input_ids", golden.view("padded.input_ids")},
                                                      {"attention_mask", golden.view("padded.attention_mask")}});
  const auto r = forward(model, {"--device", "emu:1", "--offload", "dynamic", "--storage-dtype", "bf16",
                                 "--vram-limit", "0", "--vram-config", (scratch_ / "f32.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const Tensor out = WeightFiles::open(scratch_ / "out.safetensors").view("hidden_states");
  const Tensor expected = golden.view("padded.hidden_states");
  EXPECT_EQ(out.dtype(), DType::f32);
  EXPECT_EQ(out.shape(), expected.shape());
  EXPECT_LE(relative_l2(out.to_floats(), expected.to_floats()), 1e-4);
  // 2 layers of 9 units and the final norm (the embedding is looked up on the host)
  EXPECT_NE(r.stderr_text.find("\"units_acquired\":19"), std::string::npos) << r.stderr_text;
}

TEST_F(TextEncoderCli, BadInputsAreClearErrors) {
  const auto model = qwen_image::test::write_full_text_encoder(scratch_ / "model");
  Tensor ids = Tensor::zeros({1, 4}, DType::i64);
  ids.data_as<std::int64_t>()[2] = 152064;
  write_safetensors(scratch_ / "inputs.safetensors", {{"input_ids", ids}});
  auto r = forward(model, {"--device", "cpu"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("input_ids[0, 2] = 152064 is outside the vocabulary [0, 152064)"), std::string::npos)
      << r.stderr_text;
  write_safetensors(scratch_ / "inputs.safetensors", {{"ids", ids}});
  r = forward(model, {"--device", "cpu"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("no input tensor named 'input_ids'"), std::string::npos) << r.stderr_text;
  EXPECT_FALSE(std::filesystem::exists(scratch_ / "out.safetensors"));
}

// The tiny checkpoint end to end: its tokenizer's template ids through its text encoder, by the CLI, equal bit
// for bit to the library on the same ids.
TEST_F(TextEncoderCli, TinyCheckpointTokenizesAndEncodes) {
  const Tensor ids = tokenize({"--model", kTinyCheckpoint.string(), "--template", "a cat"}, scratch_);
  ASSERT_GT(ids.size(1), 34);
  EXPECT_EQ(ids.data_as<std::int64_t>()[0], 151644);  // <|im_start|>
  write_safetensors(scratch_ / "inputs.safetensors", {{"input_ids", ids}});
  const auto r = forward(kTinyCheckpoint, {"--device", "emu:1", "--offload", "none", "--vram-config",
                                           (scratch_ / "f32.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const Tensor out = WeightFiles::open(scratch_ / "out.safetensors").view("hidden_states");

  VramManager manager(std::make_shared<EmuAccelerator>(EmuOptions{}), {});
  VramConfig config = VramConfig::preset("none");
  config.computation_dtype = StorageDType::of(DType::f32);
  auto encoder = qwen_image::QwenImageTextEncoder::open(manager, kTinyCheckpoint, config);
  const Tensor direct = encoder->forward(ids);
  EXPECT_EQ(out.shape(), (Shape{1, ids.size(1), encoder->config().hidden_size}));
  EXPECT_EQ(out.to_floats(), direct.to_floats());
}

// The real vocabulary's template ids are those the golden text encoder was run on (Python `tokenizers`).
TEST_F(TextEncoderCli, RealVocabularyGivesTheGoldenTemplateIds) {
  if (!std::filesystem::exists(kRealVocabulary / "tokenizer.json")) GTEST_SKIP() << "no vocabulary at " << kRealVocabulary;
  const Tensor ids = tokenize({"--model", kRealVocabulary.string(), "--template", kGoldenPrompt}, scratch_);
  const Tensor golden = WeightFiles::open(kGoldenTextEncoder / "golden.safetensors").view("template.input_ids");
  EXPECT_EQ(ids.shape(), golden.shape());
  EXPECT_EQ(ids.to_floats(), golden.to_floats());
}

}  // namespace
}  // namespace vramkit
