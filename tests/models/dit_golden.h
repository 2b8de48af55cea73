// The tiny DiT's golden cases (tools/golden/make_qwen_image_dit_golden.py: a random-weight checkpoint and
// diffusers' float32 outputs for a non-square grid and a padded batch with an encoder mask), and a run of
// them under one memory mode on a given accelerator; shared by the checks on every device (dit_checks.h), the
// emulated device's own tests (dit_test.cpp) and CUDA's (tests/cuda_models/dit_cuda_test.cpp).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backends/accelerator.h"
#include "io/model_files.h"
#include "model_test_util.h"
#include "models/qwen_image/dit.h"
#include "vram/manager.h"

namespace vramkit::qwen_image::test {

inline const std::filesystem::path kTinyDit =
    std::filesystem::path(VRAMKIT_TEST_DATA) / "qwen_image_dit_tiny";

struct DitCase {
  DitInputs inputs;
  Tensor expected;
};

inline DitCase load_dit_case(const WeightFiles& golden, const std::string& name) {
  DitCase c;
  const auto get = [&](const std::string& key) { return golden.view(name + "." + key).clone(); };
  c.inputs.hidden_states = get("hidden_states");
  c.inputs.encoder_hidden_states = get("encoder_hidden_states");
  c.inputs.timestep = get("timestep");
  if (golden.contains(name + ".encoder_mask")) c.inputs.encoder_mask = get("encoder_mask");
  const std::vector<float> grid = get("grid").to(DType::f32).to_floats();
  for (int i = 0; i < 3; ++i)
    c.inputs.grid[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(grid[static_cast<std::size_t>(i)]);
  c.expected = get("output");
  return c;
}

// "square_free" (one sample, no mask), then "masked" (a padded batch of two: element 1 holds 4 real tokens of
// 6).
inline std::vector<DitCase> load_dit_cases() {
  const WeightFiles golden = WeightFiles::open(kTinyDit / "golden.safetensors");
  std::vector<DitCase> cases;
  for (const char* name : {"square_free", "masked"}) cases.push_back(load_dit_case(golden, name));
  return cases;
}

// Runs every case under `mode` on `accelerator` (onloaded first), returning the outputs in case order.
inline std::vector<Tensor> run_dit_cases(std::shared_ptr<Accelerator> accelerator,
                                         const vramkit::test::Mode& mode, const std::vector<DitCase>& cases) {
  VramManager manager(std::move(accelerator), vramkit::test::manager_options(mode));
  auto dit = QwenImageDit::open(manager, kTinyDit, mode.config);
  dit->onload();
  std::vector<Tensor> outputs;
  for (const DitCase& c : cases) outputs.push_back(dit->forward(c.inputs));
  return outputs;
}

}  // namespace vramkit::qwen_image::test
