// `vramkit plan --model`: a Qwen-Image generation planned model by model as `generate` runs it, checked
// against what a generation with the same settings really does on the emulated device.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "ops/device_scratch.h"

namespace vramkit {
namespace {

class PlanCli : public ::testing::Test {
 protected:
  void SetUp() override { scratch_ = test::scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name()); }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  std::filesystem::path scratch_;
};

const std::vector<std::string> kRun{"--model", "builtin:tiny", "--width", "64", "--height", "48", "--steps", "3",
                                    "--device", "emu:1", "--offload", "dynamic", "--storage-dtype", "bf16",
                                    "--vram-limit", "0"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Everything streams (limit 0): the bytes a generation moves are the plan's, model by model and pass by pass.
// Every model's passes are announced (ManagedModel::announce_passes: by the pipeline for the text encoder and
// the transformer, by the VAE decoder for its pass or tiles), so no streaming goes past the last pass:
// exactly.
TEST_F(PlanCli, PredictsWhatAGenerationMoves) {
  const std::string prompt = "a lighthouse at dusk";
  const auto plan = test::run_cli(with(with({"plan"}, kRun), {"--prompt", prompt, "--json"}), scratch_);
  ASSERT_EQ(plan.exit_code, 0) << plan.stderr_text;
  const auto j = nlohmann::json::parse(plan.stdout_text);
  ASSERT_EQ(j.at("models").size(), 4u);
  std::vector<std::string> names;
  for (const auto& m : j.at("models")) {
    names.push_back(m.at("model"));
    EXPECT_EQ(m.at("resident_units"), 0) << m.at("model");
    EXPECT_GT(m.at("workspace_bytes").get<std::uint64_t>(), 0u) << m.at("model");
  }
  EXPECT_EQ(names, (std::vector<std::string>{"text_encoder", "transformer.modulation", "transformer", "vae_decoder"}));
  EXPECT_EQ(j.at("models")[2].at("passes"), 3);
  EXPECT_EQ(j.at("batch"), 2);
  const auto predicted = j.at("bytes_host_to_device").get<std::uint64_t>();
  EXPECT_GT(predicted, 0u);

  const auto stats = scratch_ / "stats.json";
  const auto run = test::run_cli(
      with(with({"generate"}, kRun), {"--prompt", prompt, "--out", (scratch_ / "a.png").string(), "--quiet",
                                      "--stats", stats.string()}),
      scratch_);
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  const auto measured = nlohmann::json::parse(test::read_text(stats));
  const auto moved = measured.at("bytes_host_to_device").get<std::uint64_t>();
  EXPECT_EQ(moved, predicted);
  // The device, activations included, holds no more than the largest model's plan.
  EXPECT_LE(measured.at("peak_device_bytes").get<std::uint64_t>(), j.at("peak_device_bytes").get<std::uint64_t>());
}

TEST_F(PlanCli, PrintsOneTablePerModelAndTheTotals) {
  const auto r = test::run_cli({"plan", "--model", "builtin:tiny", "--device", "emu:1", "--offload", "dynamic",
                                "--vram-limit", "0.001", "--bandwidth", "25"},
                               scratch_);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  for (const char* needle :
       {"Qwen-Image generation: 1328x1328, 30 steps, true CFG (batch 2), text 512 tokens", "== text_encoder (text encoder, 1 pass)",
        "== transformer.modulation (denoise, 1 pass)", "== transformer (denoise, 30 passes)", "== vae_decoder (vae decode",
        "decodes in ", "streamed", "== generation: peak device memory", "s of transfers"})
    EXPECT_NE(r.stdout_text.find(needle), std::string::npos) << needle << " not in:\n" << r.stdout_text;
}

TEST_F(PlanCli, NativeFp8GemmShrinksTheStreamedModelsRings) {
  const auto plan = [&](bool fp8_gemm) {
    std::vector<std::string> args = {"plan",      "--model", "builtin:tiny", "--device", "emu:1",
                                     "--offload", "dynamic", "--vram-limit", "0",        "--json"};
    if (fp8_gemm) args.push_back("--fp8-gemm");
    const auto r = test::run_cli(args, scratch_);
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    std::map<std::string, nlohmann::json> by_model;
    const auto j = nlohmann::json::parse(r.stdout_text);
    for (const auto& m : j.at("models")) by_model[m.at("model").get<std::string>()] = m;
    return by_model;
  };
  auto upcast = plan(false), native = plan(true);
  // The fp8 linears of the text encoder and the transformer need no bf16 upcast buffer in the ring; the same
  // bytes cross the bus.
  for (const char* model : {"text_encoder", "transformer"}) {
    SCOPED_TRACE(model);
    EXPECT_LT(native[model].at("ring_bytes").get<std::uint64_t>(),
              upcast[model].at("ring_bytes").get<std::uint64_t>());
    EXPECT_EQ(native[model].at("bytes_host_to_device_per_pass"),
              upcast[model].at("bytes_host_to_device_per_pass"));
  }
}

// Planned for a GPU (on this machine, GPU or not: planning never opens the device), the workspaces price the
// CUDA kernels (activation_meter.h): beside each GEMM, cuBLASLt's workspace, which the CPU kernels of the
// emulated device do not take; the tiny models' activations are far smaller.
TEST_F(PlanCli, ACudaPlanPricesTheGpuKernels) {
  const auto workspaces = [&](const std::string& device) {
    const auto r = test::run_cli({"plan", "--model", "builtin:tiny", "--device", device, "--offload",
                                  "dynamic", "--vram-limit", "1", "--json"},
                                 scratch_);
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    std::map<std::string, std::uint64_t> by_model;
    const auto j = nlohmann::json::parse(r.stdout_text);
    for (const auto& m : j.at("models"))
      by_model[m.at("model").get<std::string>()] = m.at("workspace_bytes").get<std::uint64_t>();
    return by_model;
  };
  auto emu = workspaces("emu:1"), cuda = workspaces("cuda");
  for (const char* model : {"text_encoder", "transformer"}) {
    SCOPED_TRACE(model);
    EXPECT_LT(emu[model], ops::kLibraryWorkspaceBytes);
    EXPECT_GE(cuda[model], ops::kLibraryWorkspaceBytes);
  }
}

TEST_F(PlanCli, BadArgumentsAreClearErrors) {
  const auto expect_error = [&](const std::vector<std::string>& args, const std::string& needle) {
    const auto r = test::run_cli(args, scratch_);
    EXPECT_NE(r.exit_code, 0) << r.stdout_text;
    EXPECT_NE(r.stderr_text.find(needle), std::string::npos) << needle << " not in:\n" << r.stderr_text;
  };
  expect_error({"plan", "--model", "builtin:tiny", "--device", "emu:1", "--width", "100"}, "multiples of 16");
  expect_error({"plan", "--model", "builtin:tiny", "--device", "emu:1", "--steps", "0"}, "steps");
  expect_error({"plan", "--model", (scratch_ / "nowhere").string(), "--device", "emu:1"}, "nowhere");
  expect_error({"plan", "--device", "emu:1"}, "--model");
  expect_error({"plan", "--model", "builtin:tiny", "--device", "emu:1", "--units", "layers"}, "--units: 'layers'");
  expect_error({"plan", "x.safetensors", "--model", "builtin:tiny"}, "excludes");
}

}  // namespace
}  // namespace vramkit
