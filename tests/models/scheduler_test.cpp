// The flow-match Euler scheduler against diffusers' sigma arrays (tools/golden/make_scheduler_golden.py), its
// config parsing, and the Euler step's rounding.
#include "models/qwen_image/scheduler.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/convert.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

const std::filesystem::path kSchedulerData = std::filesystem::path(VRAMKIT_TEST_DATA);

std::filesystem::path write_config(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("vramkit_sched_" + std::to_string(getpid()) + name);
  std::ofstream(path) << text;
  return path;
}

TEST(FlowMatchScheduler, SigmasMatchDiffusersBitForBit) {
  const auto golden =
      nlohmann::json::parse(std::ifstream(kSchedulerData / "scheduler" / "qwen_image_sigmas.json"));
  const FlowMatchSchedulerConfig config;  // the defaults are Qwen-Image's
  ASSERT_GE(golden.at("cases").size(), 6u);
  for (const auto& c : golden.at("cases")) {
    const int steps = c.at("steps");
    const std::int64_t seq = c.at("image_seq_len");
    SCOPED_TRACE(std::to_string(steps) + " steps, " + std::to_string(seq) + " tokens");
    EXPECT_DOUBLE_EQ(dynamic_shift_mu(config, seq), c.at("mu").get<double>());
    const std::vector<float> got = flow_match_sigmas(config, steps, seq);
    const auto want = c.at("sigmas").get<std::vector<double>>();
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], static_cast<float>(want[i])) << "sigma " << i;
    EXPECT_EQ(got.front(), 1.0f);
    EXPECT_NEAR(got[got.size() - 2], 0.02, 1e-7);  // shift_terminal, up to float32 rounding
    EXPECT_EQ(got.back(), 0.0f);
  }
}

TEST(FlowMatchScheduler, OneStepKeepsSigmaOne) {
  // The reference's terminal stretch divides 0 by 0 here; one step goes from pure noise straight to 0.
  EXPECT_EQ(flow_match_sigmas({}, 1, 4096), (std::vector<float>{1.0f, 0.0f}));
  EXPECT_THROW(flow_match_sigmas({}, 0, 4096), ArgumentError);
}

TEST(FlowMatchScheduler, StaticShiftWithoutDynamicShifting) {
  FlowMatchSchedulerConfig config;
  config.use_dynamic_shifting = false;
  config.shift = 3.0;
  config.shift_terminal = 0;
  const std::vector<float> s = flow_match_sigmas(config, 4, 4096);
  // shift·σ / (1 + (shift − 1)·σ) on linspace(1, 0.25, 4), in double here.
  const double lin[] = {1.0, 0.75, 0.5, 0.25};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(s[static_cast<std::size_t>(i)], 3 * lin[i] / (1 + 2 * lin[i]), 1e-7);
  EXPECT_EQ(s.back(), 0.0f);
}

TEST(FlowMatchScheduler, ConfigFromTheReleasedFileAndBadOnes) {
  const auto good = write_config("good.json", R"({"_class_name": "FlowMatchEulerDiscreteScheduler",
      "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 8192, "max_shift": 0.9,
      "num_train_timesteps": 1000, "shift": 1.0, "shift_terminal": 0.02, "time_shift_type": "exponential",
      "use_dynamic_shifting": true, "use_karras_sigmas": false, "invert_sigmas": false})");
  const auto c = FlowMatchSchedulerConfig::from_json_file(good);
  EXPECT_EQ(c.max_image_seq_len, 8192);
  EXPECT_DOUBLE_EQ(c.max_shift, 0.9);
  EXPECT_TRUE(c.exponential_time_shift);

  const auto expect_error = [](const std::string& name, const std::string& text, const std::string& needle) {
    const auto path = write_config(name, text);
    try {
      FlowMatchSchedulerConfig::from_json_file(path);
      ADD_FAILURE() << "no error for " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path.filename().string()), std::string::npos) << e.what();
    }
    std::filesystem::remove(path);
  };
  expect_error("karras.json", R"({"use_karras_sigmas": true})", "use_karras_sigmas");
  expect_error("type.json", R"({"max_shift": "high"})", "max_shift has the wrong type");
  expect_error("shift.json", R"({"time_shift_type": "cosine"})", "time_shift_type 'cosine'");
  expect_error("terminal.json", R"({"shift_terminal": 1.5})", "shift_terminal");
  expect_error("json.json", R"({"shift": )", "not valid JSON");
  EXPECT_THROW(FlowMatchSchedulerConfig::from_json_file("/nonexistent/scheduler_config.json"), IoError);
  std::filesystem::remove(good);
}

TEST(EulerStep, F32AndBf16RoundAsTheReference) {
  const std::vector<float> x{0.5f, -1.25f, 3.0f, 0.1f}, v{1.0f, 0.3f, -2.0f, 0.7f};
  const float s = 0.75f, s_next = 0.5f;
  const Tensor f32 = euler_step(Tensor::from_floats({4}, x), Tensor::from_floats({4}, v), s, s_next);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(f32.to_floats()[i], x[i] + (s_next - s) * v[i]);

  const Tensor xb = Tensor::from_floats({4}, x).to(DType::bf16), vb = Tensor::from_floats({4}, v).to(DType::bf16);
  const Tensor bf = euler_step(xb, vb, s, s_next);
  EXPECT_EQ(bf.dtype(), DType::bf16);
  const std::vector<float> xr = xb.to_floats(), vr = vb.to_floats();
  for (std::size_t i = 0; i < 4; ++i) {
    const float product = bf16_to_f32(f32_to_bf16((s_next - s) * vr[i]));  // rounded to the velocity's dtype
    EXPECT_EQ(bf.to_floats()[i], bf16_to_f32(f32_to_bf16(xr[i] + product)));
  }
  EXPECT_THROW(euler_step(Tensor::from_floats({4}, x), Tensor::from_floats({2, 2}, v), s, s_next), ShapeError);
}

}  // namespace
}  // namespace vramkit::qwen_image
