// What the pipeline tests share (pipeline_checks.h on every device, pipeline_test.cpp on the emulated one,
// tests/cuda_models/pipeline_cuda_test.cpp on CUDA): a small generation with and without CFG, the built-in
// tiny model under a memory mode, a generation by a pipeline of its own, and the mean pixel difference of two
// images.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "vramkit/image.h"
#include "vramkit/pipeline.h"

namespace vramkit::test {

// 64 x 48 pixels, 3 steps, CFG with the default negative prompt.
inline GenerateOptions small_generation(std::uint64_t seed = 7) {
  GenerateOptions o;
  o.prompt = "a red fox in the snow";
  o.width = 64;
  o.height = 48;
  o.steps = 3;
  o.seed = seed;
  return o;
}

// small_generation with and without CFG, decoded in one pass (a budget of 0 would otherwise tile, which
// differs slightly), by name.
inline std::vector<std::pair<std::string, GenerateOptions>> generations() {
  GenerateOptions cfg = small_generation();
  cfg.vae_tiling = "never";
  GenerateOptions plain = cfg;
  plain.negative_prompt.reset();
  return {{"with CFG", cfg}, {"without CFG", plain}};
}

// builtin:tiny on `device` under an offload preset, with an optional storage dtype and VRAM limit (GiB as
// text).
inline PipelineConfig tiny_pipeline(const std::string& device, const std::string& offload,
                                    const std::string& storage = "", const std::string& limit = "") {
  PipelineConfig c;
  c.model = "builtin:tiny";
  c.device = device;
  c.offload = offload;
  c.storage_dtype = storage;
  c.vram_limit = limit;
  return c;
}

inline PipelineConfig block_units(PipelineConfig c) {
  c.units = "block";
  return c;
}

// The modes that must give the "none" preset's image exactly (same dtypes, one-pass VAE decoding): cpu
// offload, dynamic streaming of bf16 weights with nothing resident (leaf and block units) and under a small
// budget, disk.
inline std::vector<std::pair<std::string, PipelineConfig>> streaming_modes(const std::string& device) {
  return {{"cpu offload", tiny_pipeline(device, "cpu")},
          {"dynamic, nothing resident", tiny_pipeline(device, "dynamic", "bf16", "0")},
          {"dynamic, 0.01 GiB", tiny_pipeline(device, "dynamic", "bf16", "0.01")},
          {"dynamic, block units", block_units(tiny_pipeline(device, "dynamic", "bf16", "0"))},
          {"disk", tiny_pipeline(device, "disk", "bf16", "0")}};
}

// One image from a pipeline built for it and gone after (on CUDA each pipeline's arena takes the device's
// free memory but 0.5 GiB, so a second one alive beside it would get almost nothing).
inline Image generate_once(const PipelineConfig& config, const GenerateOptions& options) {
  Pipeline pipeline(config);
  return pipeline.generate(options);
}

// Mean |a - b| over the 8-bit values of two images of one size.
inline double mean_abs_difference(const Image& a, const Image& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(int{a.pixels[i]} - int{b.pixels[i]});
  return sum / static_cast<double>(a.pixels.size());
}

}  // namespace vramkit::test
