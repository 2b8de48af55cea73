// `vramkit forward transformer` against the golden data of the tiny DiT (tools/golden/
// make_qwen_image_dit_golden.py): inputs written to a file, the program run as a user runs it (streamed on
// the emulated device), its output file compared with diffusers' output; plus its telemetry and its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "model_test_util.h"
#include "io/model_files.h"
#include "io/safetensors.h"

namespace vramkit {
namespace {

using vramkit::test::relative_l2;

const std::filesystem::path kTinyDit = std::filesystem::path(VRAMKIT_TEST_DATA) / "qwen_image_dit_tiny";

class ForwardTransformerCli : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = test::scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    const WeightFiles golden = WeightFiles::open(kTinyDit / "golden.safetensors");
    // The "masked" case: a padded batch of two with an encoder mask, grid 1x4x2 (not square).
    const auto get = [&](const std::string& key) { return golden.view("masked." + key).clone(); };
    write_safetensors(scratch_ / "inputs.safetensors",
                      {{"hidden_states", get("hidden_states")},
                       {"encoder_hidden_states", get("encoder_hidden_states")},
                       {"timestep", get("timestep")},
                       {"encoder_hidden_states_mask", get("encoder_mask")}});
    expected_ = get("output").to_floats();
    std::ofstream(scratch_ / "f32.json") << R"({"computation_dtype": "float32"})";
  }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  std::vector<std::string> args(std::vector<std::string> extra) const {
    std::vector<std::string> a{"forward", "transformer", "--model", kTinyDit.string(),
                               "--inputs", (scratch_ / "inputs.safetensors").string(),
                               "--out", (scratch_ / "out.safetensors").string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  std::filesystem::path scratch_;
  std::vector<float> expected_;
};

TEST_F(ForwardTransformerCli, StreamedRunMatchesTheReferenceAndReportsTelemetry) {
  const auto r = test::run_cli(args({"--grid", "1x4x2", "--device", "emu:1", "--offload", "dynamic",
                                     "--storage-dtype", "bf16", "--vram-limit", "0", "--vram-config",
                                     (scratch_ / "f32.json").string(), "--stats",
                                     (scratch_ / "stats.json").string(), "--trace",
                                     (scratch_ / "trace.json").string()}),
                               scratch_);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const WeightFiles out = WeightFiles::open(scratch_ / "out.safetensors");
  const Tensor output = out.view("output");
  EXPECT_EQ(output.dtype(), DType::f32);
  EXPECT_EQ(output.shape(), (Shape{2, 8, 64}));
  EXPECT_LE(relative_l2(output.to_floats(), expected_), 1e-4);

  const auto stats = nlohmann::json::parse(std::ifstream(scratch_ / "stats.json"));
  // Nothing resident: every weight crossed to the device as the planner predicts, plus what the copy threads
  // of the two managed models (modulation, token streams) prefetched for a next forward (at most a ring
  // each) before they were offloaded.
  const auto plan = test::run_cli({"plan", kTinyDit.string(), "--component", "transformer", "--device", "emu:1",
                                   "--offload", "dynamic", "--storage-dtype", "bf16", "--vram-limit", "0",
                                   "--vram-config", (scratch_ / "f32.json").string(), "--json"},
                                  scratch_);
  ASSERT_EQ(plan.exit_code, 0) << plan.stderr_text;
  const auto predicted = nlohmann::json::parse(plan.stdout_text).at(0);
  const auto moved = stats.at("bytes_host_to_device").get<std::uint64_t>();
  EXPECT_GE(moved, predicted.at("bytes_host_to_device_per_forward").get<std::uint64_t>());
  EXPECT_LE(moved, predicted.at("bytes_host_to_device_per_forward").get<std::uint64_t>() +
                       2 * predicted.at("ring_bytes").get<std::uint64_t>());
  EXPECT_GT(stats.at("peak_device_bytes").get<std::uint64_t>(), 0u);
  EXPECT_GE(stats.at("copy_wait_seconds").get<double>(), 0.0);
  EXPECT_EQ(stats.at("bytes_disk_to_host").get<std::uint64_t>(), 0u);

  // The trace: every unit computed once on the compute track and copied at least once on the copy track, with
  // each copy ending before the computation that uses it starts.
  const auto trace = nlohmann::json::parse(std::ifstream(scratch_ / "trace.json"));
  std::map<int, std::string> tracks;
  std::map<std::string, double> copy_end, compute_start;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") == "M" && e.at("name") == "thread_name") tracks[e.at("tid")] = e.at("args").at("name");
    if (e.at("ph") != "X") continue;
    const std::string track = tracks.at(e.at("tid")), name = e.at("name");
    const double start = e.at("ts"), end = start + e.at("dur").get<double>();
    if (track == "copy h2d" && !copy_end.count(name)) copy_end[name] = end;
    if (track == "compute" && !name.starts_with("wait ")) {
      EXPECT_FALSE(compute_start.count(name)) << name << " computed twice";
      compute_start[name] = start;
    }
  }
  EXPECT_EQ(compute_start.size(), 43u);  // the tiny DiT's units
  for (const auto& [name, start] : compute_start) {
    ASSERT_TRUE(copy_end.count(name)) << name << " never copied";
    EXPECT_LE(copy_end[name], start) << name;
  }
}


TEST_F(ForwardTransformerCli, TelemetryGoesToStderrWithoutStats) {
  const auto r = test::run_cli(args({"--grid", "1x4x2", "--device", "cpu"}), scratch_);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("\"peak_device_bytes\""), std::string::npos) << r.stderr_text;
  // bf16 computation (the preset's default) on the CPU.
  EXPECT_LE(relative_l2(WeightFiles::open(scratch_ / "out.safetensors").view("output").to_floats(), expected_),
            2e-2);
}

TEST_F(ForwardTransformerCli, BadInputsAreClearErrors) {
  auto r = test::run_cli(args({"--device", "cpu"}), scratch_);  // 8 tokens: not a square grid
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("give the latent grid with --grid"), std::string::npos) << r.stderr_text;

  r = test::run_cli(args({"--device", "cpu", "--grid", "1x4"}), scratch_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("--grid: '1x4'"), std::string::npos) << r.stderr_text;

  r = test::run_cli(args({"--device", "cpu", "--grid", "1x3x3"}), scratch_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("grid 1x3x3"), std::string::npos) << r.stderr_text;

  write_safetensors(scratch_ / "inputs.safetensors", {{"hidden_states", Tensor::zeros({1, 4, 64}, DType::f32)}});
  r = test::run_cli(args({"--device", "cpu"}), scratch_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("inputs.safetensors: no input tensor named 'encoder_hidden_states'"),
            std::string::npos)
      << r.stderr_text;
  EXPECT_FALSE(std::filesystem::exists(scratch_ / "out.safetensors"));
}

TEST_F(ForwardTransformerCli, MissingArgumentsAreUsageErrors) {
  const auto r = test::run_cli({"forward", "transformer", "--model", kTinyDit.string()}, scratch_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("--inputs is required"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace vramkit
