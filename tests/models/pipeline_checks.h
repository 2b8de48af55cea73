// The text-to-image pipeline's checks on any device (device_under_test.h; instantiated for the emulated
// device in pipeline_test.cpp and for CUDA in tests/cuda_models/pipeline_cuda_test.cpp), on the built-in tiny
// model: the same image in every memory mode with the same dtypes, fp8 storage and tiled decoding close to
// it, and the bytes a generation moves and the device memory it takes against the pipeline's plan.
//
// One pipeline at a time: on CUDA each takes the device's free memory but 0.5 GiB for its arena, so a second
// one alive beside it would get almost nothing.
//
// Holds TEST_P definitions: include it in one source file per test binary.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "common/device_under_test.h"
#include "pipeline_test_util.h"
#include "vramkit/pipeline.h"

namespace vramkit::test {

class PipelineOnDevice : public ::testing::TestWithParam<DeviceUnderTest> {
 protected:
  void SetUp() override { VRAMKIT_REQUIRE_DEVICE(GetParam()); }
  const std::string& device() const { return GetParam().device; }
};

// The streaming modes give the "none" preset's pixels: the same ops on the same data (on CUDA each GEMM with
// the same cuBLASLt plan, dit_checks.h says why); fp8 storage and decoding in tiles within documented
// tolerances.
TEST_P(PipelineOnDevice, EveryMemoryModeGivesTheSameImage) {
  for (auto [name, options] : generations()) {
    SCOPED_TRACE(name);
    Image reference;
    {
      Pipeline basic(tiny_pipeline(device(), "none"));
      reference = basic.generate(options);
      ASSERT_EQ(reference.width, 64);
      ASSERT_EQ(reference.height, 48);
      ASSERT_EQ(reference.pixels.size(), 64u * 48u * 3u);
      // Everything stays on the device between stages and runs: a second image moves nothing.
      EXPECT_EQ(basic.generate(options).pixels, reference.pixels);
      EXPECT_EQ(basic.last_stats().bytes_host_to_device, 0u);
    }
    for (const auto& [mode, config] : streaming_modes(device())) {
      SCOPED_TRACE(mode);
      Pipeline pipeline(config);
      EXPECT_EQ(pipeline.generate(options).pixels, reference.pixels);
      EXPECT_GT(pipeline.last_stats().bytes_host_to_device, 0u);
    }
    const double fp8 = mean_abs_difference(generate_once(tiny_pipeline(device(), "fp8"), options), reference);
    std::printf("[ %s fp8 vs bf16, %s ] mean |difference| %.3f\n", GetParam().name.c_str(), name.c_str(),
                fp8);
    EXPECT_LE(fp8, 8.0);  // fp8 weights: a documented tolerance
    // The default decoding tiles under a budget of 0: close to one pass, not equal.
    options.vae_tiling = "auto";
    EXPECT_LE(mean_abs_difference(generate_once(tiny_pipeline(device(), "dynamic", "bf16", "0"), options),
                                  reference),
              4.0);
  }
}

// Streamed (nothing resident, and what fits 0.01 GiB resident): a generation moves the plan's bytes (model by
// model, pass by pass) and each model's residents once (each is onloaded for its stage), exactly: every
// model's passes are announced; the device holds no more than the largest model's plan (the activations
// reserved included).
TEST_P(PipelineOnDevice, BytesMovedAndDeviceMemoryFollowThePlan) {
  for (const std::string limit : {"0", "0.01"}) {
    SCOPED_TRACE("--vram-limit " + limit);
    Pipeline pipeline(tiny_pipeline(device(), "dynamic", "bf16", limit));
    const GenerateOptions options = small_generation();
    const GenerationPlan plan = pipeline.plan(options);
    std::uint64_t residents = 0;
    for (const ModelPlan& m : plan.models) residents += m.resident_bytes;
    pipeline.generate(options);
    const GenerateStats& stats = pipeline.last_stats();
    std::printf(
        "[ %s, limit %s GiB ] moved %llu bytes (plan %llu + residents %llu), peak %llu (plan %llu)\n",
        GetParam().name.c_str(), limit.c_str(), static_cast<unsigned long long>(stats.bytes_host_to_device),
        static_cast<unsigned long long>(plan.bytes_host_to_device()),
        static_cast<unsigned long long>(residents), static_cast<unsigned long long>(stats.peak_device_bytes),
        static_cast<unsigned long long>(plan.peak_device_bytes()));
    EXPECT_EQ(stats.bytes_host_to_device, plan.bytes_host_to_device() + residents);
    EXPECT_GT(stats.peak_device_bytes, 0u);
    EXPECT_LE(stats.peak_device_bytes, plan.peak_device_bytes());
  }
}

}  // namespace vramkit::test
