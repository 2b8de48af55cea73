// The Qwen-Image transformer on a CUDA device: the golden cases of tests/models/dit_test.cpp (diffusers'
// float32 outputs of the tiny checkpoint) in every memory mode and with fp8 storage, repeated forwards, and
// the device memory and the bytes moved against the VRAM manager's plan. Skips without a CUDA device.
//
// The memory modes must agree bit for bit on the GPU too: every buffer an op reads (arena blocks, the
// resident weights, the staging ring's units) starts at a multiple of 256 bytes, and a GEMM's cuBLASLt plan
// (hence its algorithm and summation order) depends on the shapes, dtypes and the operands' alignment capped
// at 256 (ops/cuda/gemm.cpp), which are the same in every mode; cuDNN's attention plans depend on the shapes
// only. A mismatch between modes therefore means a mode handed an op other data, not rounding.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "backends/emu/emu_accelerator.h"
#include "cuda_model_test_util.h"
#include "models/dit_golden.h"
#include "models/model_test_util.h"
#include "models/qwen_image/dit.h"
#include "vram/manager.h"

namespace vramkit::qwen_image {
namespace {

using test::DitCase;
using test::kTinyDit;
using vramkit::test::cuda_accelerator;
using vramkit::test::expect_every_mode_matches;
using vramkit::test::memory_modes;
using vramkit::test::Mode;
using vramkit::test::relative_l2;
using vramkit::test::with_computation;

std::shared_ptr<Accelerator> emu() {
  return std::make_shared<EmuAccelerator>(EmuOptions{512u << 20, 0, 0});
}

VramConfig streamed(DType storage, DType computation) {
  return with_computation(VramConfig::preset("dynamic").with_storage_dtype(storage), computation);
}

// The device bytes of a modulation table (its timesteps stay on the host).
std::uint64_t table_bytes(const DitModulation& table) {
  std::uint64_t bytes = table.output.nbytes();
  for (const auto* part : {&table.image, &table.text})
    for (const Tensor& t : *part) bytes += t.nbytes();
  return bytes;
}

class DitCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    VRAMKIT_REQUIRE_CUDA();
    cases_ = test::load_dit_cases();
  }

  // Every memory mode on CUDA: within `tolerance` of the reference, and the basic mode's bits in every mode.
  void check(DType computation, double tolerance) {
    std::vector<Tensor> expected;
    for (const auto& c : cases_) expected.push_back(c.expected);
    expect_every_mode_matches(computation, tolerance, expected, [&](const Mode& mode) {
      return test::run_dit_cases(cuda_accelerator(), mode, cases_);
    });
  }

  std::vector<DitCase> cases_;
};

// f32 activations: the CPU's tolerance (cuBLASLt runs f32 GEMMs with f32 compute, no TF32).
TEST_F(DitCuda, Float32MatchesTheReferenceInEveryMode) {
  check(DType::f32, 1e-4);
}

// bf16 activations (bf16 GEMMs with f32 accumulation; attention through cuDNN SDPA where it supports the
// request, else the GEMM path): the CPU's tolerance.
TEST_F(DitCuda, Bfloat16StaysCloseToTheReferenceInEveryMode) {
  check(DType::bf16, 2e-2);
}

// fp8 storage (the weights rounded to float8_e4m3fn with per-channel scales, as the "fp8" and "dynamic"
// presets store them): the same rounded weights on the emulated device are the reference, resident and
// streamed. The VRAM manager upcasts them to the computation dtype on the device (the accelerator's
// dequantize, which the conformance tests hold to the host's), so what differs is the ops': the parity tests'
// tolerances.
TEST_F(DitCuda, Fp8StorageMatchesTheEmulatedDevice) {
  for (const auto& [computation, tolerance] : {std::pair{DType::f32, 1e-4}, std::pair{DType::bf16, 2e-2}}) {
    SCOPED_TRACE(dtype_name(computation));
    const std::vector<Mode> modes{
        {"fp8 resident", with_computation(VramConfig::preset("fp8"), computation), std::nullopt},
        {"fp8 streamed", streamed(DType::f8_e4m3fn, computation), 0}};
    for (const Mode& mode : modes) {
      SCOPED_TRACE(mode.name);
      const std::vector<Tensor> want = test::run_dit_cases(emu(), mode, cases_);
      const std::vector<Tensor> got = test::run_dit_cases(cuda_accelerator(), mode, cases_);
      for (std::size_t i = 0; i < cases_.size(); ++i) {
        const double err = relative_l2(got[i], want[i]);
        std::printf("[ cuda %s, %s, case %zu ] relative L2 to the emulated device %.3g\n",
                    std::string(dtype_name(computation)).c_str(), mode.name.c_str(), i, err);
        EXPECT_LE(err, tolerance) << "case " << i;
      }
    }
  }
}

TEST_F(DitCuda, RepeatedForwardsAreIdentical) {
  for (const std::optional<std::uint64_t> limit :
       {std::optional<std::uint64_t>{}, std::optional<std::uint64_t>{0}}) {
    SCOPED_TRACE(limit ? "streamed" : "resident");
    ManagerOptions options;
    options.vram_limit = limit;
    VramManager manager(cuda_accelerator(), options);
    auto dit = QwenImageDit::open(manager, kTinyDit, streamed(DType::bf16, DType::bf16));
    const Tensor a = dit->forward(cases_[1].inputs);
    const Tensor b = dit->forward(cases_[1].inputs);
    EXPECT_EQ(a.to_floats(), b.to_floats());
  }
}

// The pipeline's way (modulation precomputed for the schedule, then forwards with the table), in steady state
// (after a first forward of each case has reserved its activations, which may re-plan): the arena's peak
// stays within the plan's (residents + ring + the activations reserved) plus the table, and the bytes copied
// to the device are the plan's per forward, give or take one ring: what the copy thread prefetched for the
// first forward before the count began, or for a fourth one before it ended.
TEST_F(DitCuda, DeviceMemoryAndBytesMovedFollowThePlan) {
  for (const std::optional<std::uint64_t> limit :
       {std::optional<std::uint64_t>{}, std::optional<std::uint64_t>{0}}) {
    for (const DType computation : {DType::f32, DType::bf16}) {
      SCOPED_TRACE(std::string(limit ? "streamed, " : "resident, ") + std::string(dtype_name(computation)));
      ManagerOptions options;
      options.vram_limit = limit;
      VramManager manager(cuda_accelerator(), options);
      auto dit = QwenImageDit::open(manager, kTinyDit, streamed(DType::bf16, computation));
      std::vector<float> schedule;
      for (const DitCase& c : cases_)
        for (const float t : c.inputs.timestep.to_floats()) schedule.push_back(t);
      const DitModulation table = dit->precompute_modulation(
          Tensor::from_floats({static_cast<std::int64_t>(schedule.size())}, schedule));
      for (const DitCase& c : cases_) dit->forward(c.inputs, &table);

      const auto& arena = manager.accelerator().device_allocator();
      arena->reset_peak();
      manager.telemetry().reset();
      constexpr int kForwards = 3;
      for (int i = 0; i < kForwards; ++i) {
        const DitCase& c = cases_[static_cast<std::size_t>(i) % cases_.size()];
        EXPECT_LE(relative_l2(dit->forward(c.inputs, &table), c.expected),
                  computation == DType::f32 ? 1e-4 : 2e-2);
      }
      const Plan& plan = dit->managed().plan();
      std::printf(
          "[ cuda %s %s ] device peak %llu bytes; plan: %llu (resident %llu, ring %llu, activations %llu) "
          "+ the table %llu\n",
          limit ? "streamed" : "resident", std::string(dtype_name(computation)).c_str(),
          static_cast<unsigned long long>(arena->peak_bytes()),
          static_cast<unsigned long long>(plan.peak_device_bytes),
          static_cast<unsigned long long>(plan.resident_bytes),
          static_cast<unsigned long long>(plan.ring_bytes),
          static_cast<unsigned long long>(plan.workspace_bytes),
          static_cast<unsigned long long>(table_bytes(table)));
      EXPECT_LE(arena->peak_bytes(), plan.peak_device_bytes + table_bytes(table));
      const std::uint64_t moved = manager.snapshot().bytes_host_to_device;
      EXPECT_NEAR(static_cast<double>(moved), static_cast<double>(kForwards * plan.stream_bytes_per_forward),
                  static_cast<double>(plan.ring_bytes));
      if (!limit) EXPECT_EQ(moved, 0u);  // everything resident
    }
  }
}

}  // namespace
}  // namespace vramkit::qwen_image
