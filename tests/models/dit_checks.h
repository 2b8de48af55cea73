// The Qwen-Image transformer's checks on any accelerator (device_under_test.h; instantiated for the emulated
// device in dit_test.cpp and for CUDA in tests/cuda_models/dit_cuda_test.cpp): the golden cases of
// dit_golden.h (diffusers' float32 outputs of the tiny checkpoint) in every memory mode, repeated forwards,
// and the device memory and the bytes moved against the VRAM manager's plan.
//
// The memory modes must agree bit for bit on every device. On CUDA too: every buffer an op reads (arena
// blocks, the resident weights, the staging ring's units) starts at a multiple of 256 bytes, and a GEMM's
// cuBLASLt plan (hence its algorithm and summation order) depends on the shapes, dtypes and the operands'
// alignment capped at 256 (ops/cuda/gemm.cpp), which are the same in every mode; cuDNN's attention plans
// depend on the shapes only. A mismatch between modes therefore means a mode handed an op other data, not
// rounding.
//
// Holds TEST_P definitions: include it in one source file per test binary.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/device_under_test.h"
#include "dit_golden.h"
#include "model_test_util.h"
#include "models/qwen_image/dit.h"
#include "vram/manager.h"

namespace vramkit::qwen_image::test {

using vramkit::test::DeviceUnderTest;
using vramkit::test::Mode;
using vramkit::test::relative_l2;
using vramkit::test::with_computation;

// The "dynamic" preset storing the weights in `storage`, computing in `computation`.
inline VramConfig streamed(DType storage, DType computation) {
  return with_computation(VramConfig::preset("dynamic").with_storage_dtype(storage), computation);
}

// The device bytes of a modulation table (its timesteps stay on the host).
inline std::uint64_t table_bytes(const DitModulation& table) {
  std::uint64_t bytes = table.output.nbytes();
  for (const auto* part : {&table.image, &table.text})
    for (const Tensor& t : *part) bytes += t.nbytes();
  return bytes;
}

// Where the weights live and what the forwards compute in: resident or streamed (nothing resident, so that a
// second pass must walk the ring of units again from the first one), f32 or bf16, weights stored in bf16.
struct DitSetting {
  std::string name;
  std::optional<std::uint64_t> vram_limit;
  DType computation;
};

inline std::vector<DitSetting> resident_and_streamed_settings() {
  return {{"resident, f32", std::nullopt, DType::f32},
          {"resident, bf16", std::nullopt, DType::bf16},
          {"streamed, f32", 0, DType::f32},
          {"streamed, bf16", 0, DType::bf16}};
}

class DitOnDevice : public ::testing::TestWithParam<DeviceUnderTest> {
 protected:
  void SetUp() override {
    VRAMKIT_REQUIRE_DEVICE(GetParam());
    cases_ = load_dit_cases();
  }

  std::shared_ptr<Accelerator> accelerator() const { return GetParam().accelerator(); }

  // Every memory mode: within `tolerance` of the reference, and the basic mode's bits in every mode.
  void check(DType computation, double tolerance) {
    std::vector<Tensor> expected;
    for (const auto& c : cases_) expected.push_back(c.expected);
    vramkit::test::expect_every_mode_matches(computation, tolerance, expected, [&](const Mode& mode) {
      return run_dit_cases(accelerator(), mode, cases_);
    });
  }

  std::vector<DitCase> cases_;
};

// f32 activations on the exact (bf16-valued) weights: only summation order and libm differ from PyTorch
// (cuBLASLt runs f32 GEMMs with f32 compute, no TF32, so CUDA keeps the CPU's tolerance).
TEST_P(DitOnDevice, Float32MatchesTheReferenceInEveryMode) {
  check(DType::f32, 1e-4);
}

// bf16 activations: every op rounds to bf16 (8 bits of mantissa) over two blocks. On CUDA: bf16 GEMMs with
// f32 accumulation, attention through cuDNN SDPA where it supports the request, else the GEMM path; the CPU's
// tolerance.
TEST_P(DitOnDevice, Bfloat16StaysCloseToTheReferenceInEveryMode) {
  check(DType::bf16, 2e-2);
}

// fp8 storage with the native fp8 GEMM (ManagerOptions::native_fp8_gemm): every linear's weight is per-row
// e4m3 and its input is quantized per row to e4m3 too (3 mantissa bits each, ~2.7% relative L2 each per
// product at random inputs: tests/ops/fp8_linear_test.cpp), on top of bf16 activations, over two blocks and
// the output projection. Measured on emu: 0.051 and 0.055 (the two cases), against 0.038 and 0.040 for the
// upcast path (the same fp8 weights, bf16 GEMMs; printed beside it) and 0.005 for bf16 weights; the bound is
// the manager's fp8 tolerance (tests/vram/manager_test.cpp), with room for other seeds. On CUDA the product
// is cuBLASLt's fp8 GEMM on the same quantized operands (only the summation order differs from the CPU's).
TEST_P(DitOnDevice, NativeFp8GemmStaysCloseToTheReferenceInEveryFp8Mode) {
  std::vector<Tensor> expected;
  for (const auto& c : cases_) expected.push_back(c.expected);
  const Mode upcast{"fp8 resident, upcast", with_computation(VramConfig::preset("fp8"), DType::bf16),
                    std::nullopt};
  const std::vector<Tensor> upcast_out = run_dit_cases(accelerator(), upcast, cases_);
  for (std::size_t i = 0; i < cases_.size(); ++i)
    std::printf("[ fp8 weights upcast to bf16, case %zu ] relative L2 error %.3g\n", i,
                relative_l2(upcast_out[i], expected[i]));
  const std::vector<Mode> modes = vramkit::test::native_fp8_modes(DType::bf16);
  vramkit::test::expect_every_mode_matches(modes, DType::bf16, 0.08, expected, [&](const Mode& mode) {
    return run_dit_cases(accelerator(), mode, cases_);
  });
  // The activations really went through fp8: not the upcast path's bits.
  EXPECT_NE(run_dit_cases(accelerator(), modes[0], cases_)[0].to_floats(), upcast_out[0].to_floats());
}

// Every setting; opened by the transformer's own folder.
TEST_P(DitOnDevice, RepeatedForwardsAreIdentical) {
  for (const DitSetting& setting : resident_and_streamed_settings()) {
    SCOPED_TRACE(setting.name);
    VramManager manager(accelerator(), vramkit::test::manager_options(setting.vram_limit));
    auto dit =
        QwenImageDit::open(manager, kTinyDit / "transformer", streamed(DType::bf16, setting.computation));
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
TEST_P(DitOnDevice, DeviceMemoryAndBytesMovedFollowThePlan) {
  for (const DitSetting& setting : resident_and_streamed_settings()) {
    SCOPED_TRACE(setting.name);
    VramManager manager(accelerator(), vramkit::test::manager_options(setting.vram_limit));
    auto dit = QwenImageDit::open(manager, kTinyDit, streamed(DType::bf16, setting.computation));
    std::vector<float> schedule;
    for (const DitCase& c : cases_)
      for (const float t : c.inputs.timestep.to_floats()) schedule.push_back(t);
    const DitModulation table = dit->precompute_modulation(
        Tensor::from_floats({static_cast<std::int64_t>(schedule.size())}, schedule));
    for (const DitCase& c : cases_) dit->forward(c.inputs, &table);

    const auto& arena = manager.accelerator().device_allocator();
    manager.reset_telemetry();
    constexpr int kForwards = 3;
    for (int i = 0; i < kForwards; ++i) {
      const DitCase& c = cases_[static_cast<std::size_t>(i) % cases_.size()];
      EXPECT_LE(relative_l2(dit->forward(c.inputs, &table), c.expected),
                setting.computation == DType::f32 ? 1e-4 : 2e-2);
    }
    const Plan& plan = dit->managed().plan();
    std::printf(
        "[ %s %s ] device peak %llu bytes; plan: %llu (resident %llu, ring %llu, activations %llu) + the "
        "table "
        "%llu\n",
        GetParam().name.c_str(), setting.name.c_str(), static_cast<unsigned long long>(arena->peak_bytes()),
        static_cast<unsigned long long>(plan.peak_device_bytes),
        static_cast<unsigned long long>(plan.resident_bytes),
        static_cast<unsigned long long>(plan.ring_bytes),
        static_cast<unsigned long long>(plan.workspace_bytes),
        static_cast<unsigned long long>(table_bytes(table)));
    EXPECT_LE(arena->peak_bytes(), plan.peak_device_bytes + table_bytes(table));
    const std::uint64_t moved = manager.snapshot().bytes_host_to_device;
    EXPECT_NEAR(static_cast<double>(moved), static_cast<double>(kForwards * plan.stream_bytes_per_forward),
                static_cast<double>(plan.ring_bytes));
    if (!setting.vram_limit) EXPECT_EQ(moved, 0u);  // everything resident
  }
}

}  // namespace vramkit::qwen_image::test
