// The text-to-image pipeline end to end on the built-in tiny model (random weights of the Qwen-Image
// architecture): the checks of pipeline_checks.h on the emulated device (every memory mode, CFG on and off,
// bytes moved and device memory), then seeds and given latents, stages and progress, an out-of-memory failure
// the pipeline recovers from, cancelling from the progress callback, and bad input rejected before anything
// runs.
#include "vramkit/pipeline.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "backends/accelerator_registry.h"
#include "core/tensor.h"
#include "io/safetensors.h"
#include "ops/layout.h"
#include "pipeline/noise.h"
#include "pipeline_checks.h"
#include "pipeline_test_util.h"
#include "vramkit/error.h"

namespace vramkit {

namespace test {
VRAMKIT_INSTANTIATE_ON_DEVICE(Emu, PipelineOnDevice, emu_device_under_test());
}  // namespace test

namespace {

GenerateOptions small(std::uint64_t seed = 7) {
  return test::small_generation(seed);
}

PipelineConfig tiny(const std::string& offload, const std::string& storage = "",
                    const std::string& limit = "") {
  return test::tiny_pipeline("emu:1", offload, storage, limit);
}

TEST(Pipeline, SeedsAndGivenLatents) {
  Pipeline pipeline(tiny("none"));
  const Image a = pipeline.generate(small(7));
  EXPECT_EQ(pipeline.generate(small(7)).pixels, a.pixels);
  EXPECT_NE(pipeline.generate(small(8)).pixels, a.pixels);

  // The seed's own noise, given as a latents file, reproduces the seeded run.
  const auto dir = std::filesystem::temp_directory_path() / ("vramkit_pipeline_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  write_safetensors(dir / "latents.safetensors", {{"latents", ops::pack_latents(gaussian_noise({1, 16, 6, 8}, 7))}});
  GenerateOptions given = small(12345);
  given.latents = dir / "latents.safetensors";
  EXPECT_EQ(pipeline.generate(given).pixels, a.pixels);

  write_safetensors(dir / "wrong.safetensors", {{"latents", Tensor::zeros({1, 13, 64}, DType::f32)}});
  given.latents = dir / "wrong.safetensors";
  EXPECT_THROW(pipeline.generate(given), ArgumentError);
  std::filesystem::remove_all(dir);
}

TEST(Pipeline, StagesAndProgressAreReported) {
  Pipeline pipeline(tiny("dynamic", "bf16", "0"));
  std::vector<std::string> seen;
  int last_denoise_step = -1;
  pipeline.generate(small(), [&](const Progress& p) {
    if (seen.empty() || seen.back() != p.stage) seen.push_back(p.stage);
    if (p.stage == "denoise") {
      EXPECT_EQ(p.total, 3);
      EXPECT_EQ(p.step, last_denoise_step + 1);
      last_denoise_step = p.step;
    }
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"text encoder", "denoise", "vae decode"}));
  EXPECT_EQ(last_denoise_step, 3);
  const GenerateStats& s = pipeline.last_stats();
  ASSERT_EQ(s.stages.size(), 3u);
  EXPECT_GT(s.peak_device_bytes, 0u);
  EXPECT_NE(s.telemetry_json.find("bytes_host_to_device"), std::string::npos);
  // The peak by kind: nothing resident under a limit of 0, rings and activations; each kind's peak comes at
  // its own moment, so together they cover the total.
  EXPECT_EQ(s.peak_resident_bytes, 0u);
  EXPECT_GT(s.peak_staging_bytes, 0u);
  EXPECT_GT(s.peak_activation_bytes, 0u);
  EXPECT_LE(s.peak_device_bytes, s.peak_resident_bytes + s.peak_staging_bytes + s.peak_activation_bytes);
  EXPECT_NE(s.telemetry_json.find("peak_activation_bytes"), std::string::npos);
  // Each generation reports its own peaks: a larger image has larger activations, and the small one again
  // its own.
  const std::uint64_t activations = s.peak_activation_bytes, peak = s.peak_device_bytes;
  GenerateOptions larger = small();
  larger.width = larger.height = 128;
  pipeline.generate(larger);
  EXPECT_GT(pipeline.last_stats().peak_activation_bytes, activations);
  pipeline.generate(small());
  EXPECT_EQ(pipeline.last_stats().peak_activation_bytes, activations);
  EXPECT_EQ(pipeline.last_stats().peak_device_bytes, peak);
}

// A generation too large for the device fails as OutOfMemory naming the stage and what to change, and leaves
// the pipeline able to run: every model offloaded, the device empty, the next image the one a fresh pipeline
// makes.
TEST(Pipeline, OutOfMemoryNamesTheStageAndThePipelineRunsAgain) {
  // 4 MiB, every weight streamed: the ring fits, not the activations at 1024². The transformer fails in the
  // middle of its pass; the next generation needs it offloaded (its streaming restarted from the first unit).
  Pipeline pipeline(test::tiny_pipeline("emu:0.004", "dynamic", "bf16", "0"));
  GenerateOptions large = small();
  large.width = large.height = 1024;
  large.steps = 1;
  try {
    pipeline.generate(large);
    ADD_FAILURE() << "no exception";
  } catch (const OutOfMemory& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("denoise: out of memory on emu:0", 0), 0u) << what;
    EXPECT_NE(what.find("the activations of this image size do not fit"), std::string::npos) << what;
    EXPECT_EQ(e.device(), "emu:0");
    EXPECT_GT(e.bytes(), 0u);
  }
  EXPECT_EQ(accelerator_for(Device::emu(0)).device_allocator()->allocated_bytes(), 0u)
      << "a model still holds memory";
  const Image image = pipeline.generate(small());
  Pipeline fresh(test::tiny_pipeline("emu:0.004", "dynamic", "bf16", "0"));
  EXPECT_EQ(image.pixels, fresh.generate(small()).pixels);
  EXPECT_EQ(pipeline.last_stats().bytes_host_to_device, fresh.last_stats().bytes_host_to_device);

  // Weights that fill the device: the hint is a streaming preset.
  Pipeline full(test::tiny_pipeline("emu:0.001", "none"));
  try {
    full.generate(small());
    ADD_FAILURE() << "no exception";
  } catch (const OutOfMemory& e) {
    EXPECT_NE(std::string(e.what()).find("--offload dynamic"), std::string::npos) << e.what();
  }
}

// A progress callback that throws cancels the generation: the exception comes out of generate(), the models
// are offloaded and the next generation runs.
TEST(Pipeline, AThrowingProgressCallbackCancels) {
  struct Cancelled {};
  Pipeline pipeline(tiny("dynamic", "bf16", "0"));
  EXPECT_THROW(pipeline.generate(small(),
                                 [](const Progress& p) {
                                   if (p.stage == "denoise" && p.step == 1) throw Cancelled{};
                                 }),
               Cancelled);
  EXPECT_EQ(accelerator_for(Device::emu(0)).device_allocator()->allocated_bytes(), 0u);
  EXPECT_EQ(pipeline.generate(small()).pixels,
            Pipeline(tiny("dynamic", "bf16", "0")).generate(small()).pixels);
}

TEST(Pipeline, BadInputIsRejectedBeforeAnythingRuns) {
  Pipeline pipeline(tiny("none"));
  const auto expect_error = [&](GenerateOptions o, const std::string& needle) {
    try {
      pipeline.generate(o);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const ArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  GenerateOptions o = small();
  o.width = 72;
  expect_error(o, "multiples of 16");
  o = small();
  o.steps = 0;
  expect_error(o, "steps must be at least 1");
  o = small();
  o.cfg = -1;
  expect_error(o, "cfg");
  EXPECT_THROW(Pipeline(tiny("dynamic", "", "-2")), ArgumentError);
  EXPECT_THROW(Pipeline(tiny("turbo")), ArgumentError);
  PipelineConfig missing = tiny("none");
  missing.model = "/nonexistent/qwen-image";
  EXPECT_THROW(Pipeline{missing}, ArgumentError);
}

}  // namespace
}  // namespace vramkit
