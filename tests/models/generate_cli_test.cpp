// `vramkit generate` as a user runs it, on the built-in tiny model: a PNG with the generation parameters in
// its text chunks, the progress bar and summary on stderr, and bad input (or a device too small) refused with
// a clear error, a non-zero exit and no PNG left behind.
#include <gtest/gtest.h>

#include <fstream>

#include "cli_runner.h"
#include "vramkit/image.h"

namespace vramkit {
namespace {

class GenerateCli : public ::testing::Test {
 protected:
  void SetUp() override { scratch_ = test::scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name()); }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  test::CliResult generate(std::vector<std::string> extra, const std::string& model = "builtin:tiny") {
    std::vector<std::string> a{"generate", "--model", model, "--prompt", "a lighthouse at dusk, 灯塔",
                               "--width", "48", "--height", "32", "--steps", "2", "--seed", "3",
                               "--device", "emu:1", "--out", out().string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return test::run_cli(a, scratch_);
  }
  std::filesystem::path out() const { return scratch_ / "image.png"; }

  std::filesystem::path scratch_;
};

TEST_F(GenerateCli, WritesAPngWithItsParameters) {
  const auto r = generate({"--offload", "dynamic", "--storage-dtype", "bf16", "--vram-limit", "0", "--stats",
                           (scratch_ / "stats.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  PngText text;
  const Image image = read_png(out(), &text);
  EXPECT_EQ(image.width, 48);
  EXPECT_EQ(image.height, 32);
  ASSERT_EQ(text.size(), 2u);
  EXPECT_EQ(text[0].first, "parameters");
  EXPECT_NE(text[0].second.find("a lighthouse at dusk, 灯塔\nNegative prompt:  \nSteps: 2"), std::string::npos)
      << text[0].second;
  EXPECT_NE(text[0].second.find("Seed: 3, Size: 48x32"), std::string::npos) << text[0].second;
  EXPECT_EQ(text[1].first, "vramkit");
  EXPECT_NE(text[1].second.find("\"seed\":3"), std::string::npos) << text[1].second;
  // Progress per stage and the summary.
  for (const char* needle : {"text encoder", "denoise", "2/2", "s/it", "vae decode", "wrote ", "peak VRAM"})
    EXPECT_NE(r.stderr_text.find(needle), std::string::npos) << needle << " not in:\n" << r.stderr_text;
  EXPECT_NE(test::read_text(scratch_ / "stats.json").find("\"bytes_host_to_device\""), std::string::npos);

  // The same seed gives the same image; --quiet prints nothing.
  const auto again = generate({"--quiet"});
  ASSERT_EQ(again.exit_code, 0) << again.stderr_text;
  EXPECT_EQ(read_png(out()).pixels, image.pixels);
  EXPECT_EQ(again.stderr_text, "");
}

TEST_F(GenerateCli, BadInputIsAClearErrorAndLeavesNoPng) {
  const auto expect_error = [&](test::CliResult r, const std::string& needle) {
    EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(needle), std::string::npos) << r.stderr_text;
    EXPECT_FALSE(std::filesystem::exists(out())) << needle;
  };
  expect_error(generate({"--width", "50"}), "multiples of 16");
  expect_error(generate({"--steps", "0"}), "steps must be at least 1");
  expect_error(generate({"--vram-limit", "-1"}), "--vram-limit: '-1'");
  expect_error(generate({}, (scratch_ / "nothing-here").string()), "nothing-here");
  // A model folder without its tokenizer, and one whose tokenizer is unreadable.
  const auto model = scratch_ / "model";
  ASSERT_EQ(test::run_cli({"make-tiny-model", model.string()}, scratch_).exit_code, 0);
  std::filesystem::remove_all(model / "vae");
  expect_error(generate({}, model.string()), "vae folder");
  ASSERT_EQ(test::run_cli({"make-tiny-model", model.string()}, scratch_).exit_code, 0);
  std::ofstream(model / "tokenizer" / "vocab.json") << "{ not json";
  expect_error(generate({}, model.string()), "vocab.json");
  const auto usage = generate({"--out", (scratch_ / "image.jpg").string()});
  EXPECT_EQ(usage.exit_code, 1);
  EXPECT_NE(usage.stderr_text.find(".png"), std::string::npos);
}

// A device too small for the image: the progress so far, then the error on a line of its own, naming the
// stage and what to change.
TEST_F(GenerateCli, OutOfMemoryIsAClearErrorAfterTheProgress) {
  const auto r = generate({"--device", "emu:0.004", "--width", "1024", "--height", "1024"});
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("text encoder"), std::string::npos) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("\nvramkit: error: denoise: out of memory on emu:0"), std::string::npos)
      << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("a smaller image needs less"), std::string::npos) << r.stderr_text;
  EXPECT_FALSE(std::filesystem::exists(out()));
}

}  // namespace
}  // namespace vramkit
