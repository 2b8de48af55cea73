// `vramkit bench` on the tiny checkpoint the build writes, on the emulated device: the JSON report has every
// field, and its measurements agree with the planner (bytes moved per forward = the plan's prediction, within
// one ring of prefetch over the timed forwards), with the modes' definitions (nothing moves when everything
// is resident, the dynamic budget holds) and with each other; plus its errors.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"

namespace vramkit {
namespace {

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = test::scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  test::CliResult bench(std::vector<std::string> extra) const {
    std::vector<std::string> a{"bench",
                               "--model",
                               VRAMKIT_TINY_QWEN_IMAGE_DIR,
                               "--device",
                               "emu:1",
                               "--width",
                               "64",
                               "--height",
                               "64",
                               "--text-tokens",
                               "8"};
    a.insert(a.end(), extra.begin(), extra.end());
    return test::run_cli(a, scratch_);
  }

  std::filesystem::path scratch_;
};

TEST_F(BenchCli, ReportsEveryModeAgainstThePlanAndTheCeilings) {
  const auto r = bench({"--cfg", "4", "--repeat", "5", "--modes",
                        "stream-bf16,basic,fp8,stream-fp8,dynamic-50,disk-warm,disk-cold", "--json",
                        (scratch_ / "bench.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const auto report = nlohmann::json::parse(std::ifstream(scratch_ / "bench.json"));
  EXPECT_EQ(report.at("batch"), 2);  // true CFG: both branches in one batch
  EXPECT_EQ(report.at("image_tokens"), 16);
  EXPECT_EQ(report.at("repeat"), 5);
  EXPECT_EQ(report.at("device"), "emu:0");
  const auto& ceilings = report.at("ceilings");
  for (const char* key :
       {"pinned_h2d_gbps", "pageable_h2d_gbps", "disk_read_gbps", "resident_compute_seconds"})
    EXPECT_GT(ceilings.at(key).get<double>(), 0.0) << key;
  EXPECT_GT(ceilings.at("disk_read_bytes").get<std::uint64_t>(), 0u);

  const auto& modes = report.at("modes");
  ASSERT_EQ(modes.size(), 7u);
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& m : modes) by_name[m.at("mode").get<std::string>()] = m;
  EXPECT_EQ(modes[0].at("mode"), "stream-bf16");  // in the order asked
  for (const auto& [name, m] : by_name) {
    SCOPED_TRACE(name);
    ASSERT_EQ(m.at("seconds").size(), 5u);
    auto seconds = m.at("seconds").get<std::vector<double>>();
    std::sort(seconds.begin(), seconds.end());
    EXPECT_EQ(m.at("seconds_per_forward").get<double>(), seconds[2]);  // the median
    EXPECT_GT(m.at("peak_device_bytes").get<std::uint64_t>(), 0u);
    EXPECT_TRUE(m.at("driver_used_bytes").is_null());  // cuda only
    EXPECT_GE(m.at("arena_committed_bytes").get<std::uint64_t>(),
              m.at("peak_device_bytes").get<std::uint64_t>());
    EXPECT_GT(m.at("ratio").get<double>(), 0.0);
    EXPECT_GE(m.at("copy_wait_seconds_per_forward").get<double>(), 0.0);
    // Measured bytes over the 5 timed forwards = 5 x the plan's prediction, give or take the ring the copy
    // thread fills ahead (staged before the counters were reset, or for a sixth forward at the end).
    const auto ring = m.at("ring_bytes").get<double>();
    const auto predicted = m.at("predicted_bytes_host_to_device_per_forward").get<double>();
    EXPECT_NEAR(m.at("bytes_host_to_device").get<double>(), 5 * predicted, ring);
    EXPECT_DOUBLE_EQ(m.at("bytes_host_to_device_per_forward").get<double>(),
                     m.at("bytes_host_to_device").get<double>() / 5);
    EXPECT_NEAR(m.at("achieved_h2d_gbps").get<double>(),
                m.at("bytes_host_to_device_per_forward").get<double>() /
                    m.at("seconds_per_forward").get<double>() / 1e9,
                1e-9);
  }
  EXPECT_NE(by_name["stream-fp8"].at("vram_config").get<std::string>().find("offload=f8_e4m3fn@cpu"),
            std::string::npos);
  // Everything resident: nothing crosses the bus per forward, no ring.
  for (const char* name : {"basic", "fp8"}) {
    EXPECT_EQ(by_name[name].at("bytes_host_to_device").get<std::uint64_t>(), 0u) << name;
    EXPECT_TRUE(by_name[name].at("vram_limit_bytes").is_null()) << name;
  }
  EXPECT_EQ(ceilings.at("resident_compute_seconds").get<double>(),
            by_name["basic"].at("seconds_per_forward").get<double>());
  // fp8 resident holds little more than half the bytes of bf16 resident: the biases and norms stay bf16 and
  // every row of a weight carries a 4-byte scale, which on the tiny model's 32-wide rows is 6 % more.
  EXPECT_LT(by_name["fp8"].at("resident_bytes").get<double>(),
            0.65 * by_name["basic"].at("resident_bytes").get<double>());
  // vram_limit=0 bf16 moves every weight of the token streams each forward.
  const auto& streamed = by_name["stream-bf16"];
  EXPECT_EQ(streamed.at("vram_limit_bytes"), 0);
  EXPECT_EQ(streamed.at("resident_bytes"), 0);
  EXPECT_GT(streamed.at("predicted_bytes_host_to_device_per_forward").get<std::uint64_t>(), 0u);
  // dynamic-50: the budget is the ring plus half the fp8 weights; the plan keeps what fits resident and
  // streams the rest.
  const auto& dynamic = by_name["dynamic-50"];
  EXPECT_LE(dynamic.at("resident_bytes").get<std::uint64_t>() + dynamic.at("ring_bytes").get<std::uint64_t>(),
            dynamic.at("vram_limit_bytes").get<std::uint64_t>());
  EXPECT_LE(dynamic.at("resident_bytes").get<double>(),
            0.5 * by_name["fp8"].at("resident_bytes").get<double>());
  EXPECT_GT(dynamic.at("resident_bytes").get<std::uint64_t>(), 0u);
  EXPECT_GT(dynamic.at("predicted_bytes_host_to_device_per_forward").get<std::uint64_t>(), 0u);
  // The disk modes read every streamed byte from the files each forward, warm or cold.
  for (const char* name : {"disk-warm", "disk-cold"}) {
    const auto& m = by_name[name];
    const auto predicted = m.at("predicted_bytes_disk_to_host_per_forward").get<double>();
    EXPECT_GT(predicted, 0.0) << name;
    EXPECT_NEAR(m.at("bytes_disk_to_host").get<double>(), 5 * predicted, predicted) << name;
  }
  EXPECT_TRUE(by_name["disk-cold"].contains("page_cache_left_bytes"));
  EXPECT_FALSE(by_name["disk-warm"].contains("page_cache_left_bytes"));

  // The table: a header and one row per mode, then the ceilings.
  EXPECT_NE(r.stdout_text.find("ms/fwd"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("\ndynamic-50 "), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("ceilings: pinned H2D"), std::string::npos) << r.stdout_text;
}

TEST_F(BenchCli, NativeFp8GemmModesNeedNoUpcastStaging) {
  const auto r = bench({"--cfg", "1", "--repeat", "5", "--modes", "stream-fp8,stream-fp8-gemm,fp8-gemm",
                        "--json", (scratch_ / "bench.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const auto report = nlohmann::json::parse(std::ifstream(scratch_ / "bench.json"));
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& m : report.at("modes")) by_name[m.at("mode").get<std::string>()] = m;
  EXPECT_FALSE(by_name["stream-fp8"].at("native_fp8_gemm").get<bool>());
  EXPECT_TRUE(by_name["stream-fp8-gemm"].at("native_fp8_gemm").get<bool>());
  EXPECT_TRUE(by_name["fp8-gemm"].at("native_fp8_gemm").get<bool>());
  // The same fp8 bytes cross the bus, but the ring holds no bf16 upcast of the weights.
  EXPECT_EQ(by_name["stream-fp8-gemm"].at("predicted_bytes_host_to_device_per_forward"),
            by_name["stream-fp8"].at("predicted_bytes_host_to_device_per_forward"));
  EXPECT_LT(by_name["stream-fp8-gemm"].at("ring_bytes").get<double>(),
            by_name["stream-fp8"].at("ring_bytes").get<double>());
}

// limit-G: an absolute vram_limit, which the planner fills with resident weights and keeps. The tiny model
// holds 71 KB of fp8 weights (117 KB in bf16), its smallest streamed configuration about 65 KB: 0.00012 GiB
// (126 KiB) and 0.00013 GiB in bf16 keep some weights resident and stream the rest.
TEST_F(BenchCli, LimitModesKeepTheirBudget) {
  const auto r = bench({"--cfg", "1", "--repeat", "5", "--modes", "limit-0.00012,limit-0.00013-bf16,limit-1",
                        "--json", (scratch_ / "bench.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(r.stderr_text.find("above the limit"), std::string::npos) << r.stderr_text;
  const auto report = nlohmann::json::parse(std::ifstream(scratch_ / "bench.json"));
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& m : report.at("modes")) by_name[m.at("mode").get<std::string>()] = m;
  for (const auto& [name, gib] :
       {std::pair{"limit-0.00012", 0.00012}, std::pair{"limit-0.00013-bf16", 0.00013}}) {
    const auto& m = by_name[name];
    const auto limit = static_cast<std::uint64_t>(gib * (1ull << 30));
    EXPECT_EQ(m.at("vram_limit_bytes").get<std::uint64_t>(), limit) << name;
    EXPECT_LE(m.at("peak_device_bytes").get<std::uint64_t>(), limit) << name;
    EXPECT_GT(m.at("resident_bytes").get<std::uint64_t>(), 0u) << name;
    EXPECT_GT(m.at("predicted_bytes_host_to_device_per_forward").get<std::uint64_t>(), 0u) << name;
  }
  EXPECT_NE(by_name["limit-0.00012"].at("vram_config").get<std::string>().find("offload=f8_e4m3fn@cpu"),
            std::string::npos);
  EXPECT_NE(by_name["limit-0.00013-bf16"].at("vram_config").get<std::string>().find("offload=bf16@cpu"),
            std::string::npos);
  // 1 GiB holds the tiny model: every weight resident, nothing streamed.
  EXPECT_EQ(by_name["limit-1"].at("predicted_bytes_host_to_device_per_forward").get<std::uint64_t>(), 0u);
  EXPECT_GT(by_name["limit-1"].at("resident_bytes").get<std::uint64_t>(), 0u);
}

TEST_F(BenchCli, BadArgumentsAreNamed) {
  auto r = bench({"--modes", "basic,warp"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("--modes: 'warp' is not a mode (basic, fp8, stream-bf16"), std::string::npos)
      << r.stderr_text;
  for (const char* bad : {"limit-x", "limit--1", "limit-", "limit-4gib"}) {
    r = bench({"--modes", bad});
    EXPECT_EQ(r.exit_code, 1) << bad;
    EXPECT_NE(r.stderr_text.find(std::string("'") + bad + "' needs a vram_limit in GiB"), std::string::npos)
        << r.stderr_text;
  }
  r = bench({"--modes", "basic,basic"});
  EXPECT_NE(r.stderr_text.find("'basic' is given twice"), std::string::npos) << r.stderr_text;
  r = test::run_cli({"bench", "--model", VRAMKIT_TINY_QWEN_IMAGE_DIR, "--device", "emu:1", "--width", "100"},
                    scratch_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("--width: 100 is not a positive multiple of 16"), std::string::npos)
      << r.stderr_text;
  r = bench({"--repeat", "3"});
  EXPECT_EQ(r.exit_code, 2);  // a usage error: the median needs at least 5
  r = test::run_cli({"bench", "--model", (scratch_ / "absent").string(), "--device", "emu:1"}, scratch_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("absent"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace vramkit
