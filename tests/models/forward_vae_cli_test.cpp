// `vramkit forward vae_decoder` and `vramkit forward vae_encoder` against the golden data of the tiny VAE
// (tools/golden/make_qwen_image_vae_golden.py): inputs written to a file, the program run as a user runs it
// (streamed on the emulated device), its output compared with diffusers'; tiling options; the build's tiny
// Qwen-Image checkpoint (models/qwen_image/tiny_model.h) decoding; errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "cli_runner.h"
#include "model_test_util.h"
#include "io/model_files.h"
#include "io/safetensors.h"

namespace vramkit {
namespace {

using vramkit::test::relative_l2;

const std::filesystem::path kTinyVae = std::filesystem::path(VRAMKIT_TEST_DATA) / "qwen_image_vae_tiny";

class ForwardVaeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = test::scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    golden_ = std::make_unique<WeightFiles>(WeightFiles::open(kTinyVae / "golden.safetensors"));
    std::ofstream(scratch_ / "f32.json") << R"({"computation_dtype": "float32"})";
  }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  Tensor get(const std::string& key) const { return golden_->view(key).clone(); }
  void write_inputs(const std::string& name, const Tensor& t) const {
    write_safetensors(scratch_ / "inputs.safetensors", {{name, t}});
  }
  std::vector<std::string> args(const std::string& component, const std::filesystem::path& model,
                                std::vector<std::string> extra) const {
    std::vector<std::string> a{"forward", component, "--model", model.string(),
                               "--inputs", (scratch_ / "inputs.safetensors").string(),
                               "--out", (scratch_ / "out.safetensors").string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // Streamed from host memory, nothing resident, f32 activations (unless `vram_config` says otherwise).
  std::vector<std::string> streamed(const std::string& vram_config = "f32.json") const {
    return {"--device", "emu:1", "--offload", "dynamic", "--storage-dtype", "bf16", "--vram-limit", "0",
            "--vram-config", (scratch_ / vram_config).string(), "--stats", (scratch_ / "stats.json").string()};
  }
  Tensor output() const { return WeightFiles::open(scratch_ / "out.safetensors").view("output").clone(); }

  std::filesystem::path scratch_;
  std::unique_ptr<WeightFiles> golden_;
};

TEST_F(ForwardVaeCli, DecoderMatchesTheReference) {
  write_inputs("z", get("decode_single.z"));
  // f32 through the "vae" object of a per-component file (bf16, the default, would miss the bound below).
  std::ofstream(scratch_ / "components.json")
      << R"({"vae": {"computation_dtype": "float32"}, "transformer": {"computation_dtype": "bfloat16"}})";
  std::vector<std::string> options = streamed("components.json");
  options.insert(options.end(), {"--tiling", "never"});
  const auto r = test::run_cli(args("vae_decoder", kTinyVae, options), scratch_);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const Tensor out = output();
  EXPECT_EQ(out.dtype(), DType::f32);
  EXPECT_EQ(out.shape(), (Shape{1, 3, 1, 40, 56}));
  EXPECT_LE(relative_l2(out.to_floats(), get("decode_single.output").to_floats()), 1e-4);
}

TEST_F(ForwardVaeCli, TiledDecoderMatchesTheReferenceTiledDecode) {
  write_inputs("z", get("decode_tiled.z"));
  std::vector<std::string> options = streamed();
  options.insert(options.end(), {"--tiling", "always", "--tile", "8", "--tile-stride", "6"});
  const auto r = test::run_cli(args("vae_decoder", kTinyVae / "vae", options), scratch_);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_LE(relative_l2(output().to_floats(), get("decode_tiled.output").to_floats()), 1e-4);
}

TEST_F(ForwardVaeCli, EncoderMatchesTheReference) {
  write_inputs("image", get("encode_batch.image"));
  const auto r = test::run_cli(args("vae_encoder", kTinyVae, streamed()), scratch_);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const Tensor out = output();
  EXPECT_EQ(out.shape(), (Shape{2, 16, 1, 2, 3}));
  EXPECT_LE(relative_l2(out.to_floats(), get("encode_batch.mean").to_floats()), 1e-4);
}

// The tiny Qwen-Image checkpoint the build writes (base_dim 8, random weights) loads and decodes.
TEST_F(ForwardVaeCli, TinyCheckpointDecodesAndEncodes) {
  const std::vector<float> values(16 * 4 * 6, 0.5f);
  write_inputs("z", Tensor::from_floats({1, 16, 1, 4, 6}, values));
  auto r = test::run_cli(args("vae_decoder", VRAMKIT_TINY_QWEN_IMAGE_DIR, {"--device", "cpu"}), scratch_);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const Tensor image = output();
  EXPECT_EQ(image.shape(), (Shape{1, 3, 1, 32, 48}));
  for (const float v : image.to_floats()) ASSERT_TRUE(v >= -1.0f && v <= 1.0f) << v;

  write_inputs("image", image);
  r = test::run_cli(args("vae_encoder", VRAMKIT_TINY_QWEN_IMAGE_DIR, {"--device", "cpu"}), scratch_);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(output().shape(), (Shape{1, 16, 1, 4, 6}));
}

TEST_F(ForwardVaeCli, BadInputsAreClearErrors) {
  write_inputs("z", Tensor::zeros({1, 8, 1, 4, 4}, DType::f32));
  auto r = test::run_cli(args("vae_decoder", kTinyVae, {"--device", "cpu"}), scratch_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("z f32[1, 8, 1, 4, 4]"), std::string::npos) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("must be [B, 16, 1, h, w]"), std::string::npos) << r.stderr_text;

  write_inputs("latents", Tensor::zeros({1, 16, 1, 4, 4}, DType::f32));
  r = test::run_cli(args("vae_decoder", kTinyVae, {"--device", "cpu"}), scratch_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("no input tensor named 'z'"), std::string::npos) << r.stderr_text;

  write_inputs("z", Tensor::zeros({1, 16, 1, 4, 4}, DType::f32));
  r = test::run_cli(args("vae_decoder", kTinyVae, {"--device", "cpu", "--tiling", "sometimes"}), scratch_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("--tiling"), std::string::npos) << r.stderr_text;
  r = test::run_cli(args("vae_decoder", kTinyVae, {"--device", "cpu", "--tile", "4", "--tile-stride", "5"}),
                    scratch_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("tile 4, stride 5"), std::string::npos) << r.stderr_text;

  write_inputs("image", Tensor::zeros({1, 3, 1, 12, 16}, DType::f32));
  r = test::run_cli(args("vae_encoder", kTinyVae, {"--device", "cpu"}), scratch_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("multiples of 8"), std::string::npos) << r.stderr_text;
  EXPECT_FALSE(std::filesystem::exists(scratch_ / "out.safetensors"));
}

}  // namespace
}  // namespace vramkit
