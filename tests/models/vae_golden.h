// The tiny VAE's golden cases (tools/golden/make_qwen_image_vae_golden.py: a random-weight checkpoint and
// diffusers' float32 decode and encode outputs for non-square sizes and a batch), and a run of the decode or
// encode cases under one memory mode on a given accelerator; shared by the checks on every device
// (vae_checks.h) and the emulated device's own tests (vae_test.cpp).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backends/accelerator.h"
#include "io/model_files.h"
#include "model_test_util.h"
#include "models/qwen_image/vae.h"
#include "vram/manager.h"

namespace vramkit::qwen_image::test {

inline const std::filesystem::path kTinyVae =
    std::filesystem::path(VRAMKIT_TEST_DATA) / "qwen_image_vae_tiny";

// The golden cases of a part: their input is "<case>.z" (decoder) or "<case>.image" (encoder), the reference
// "<case>.output" or "<case>.mean".
inline std::vector<std::string> vae_case_names(VaePart part) {
  return part == VaePart::decoder ? std::vector<std::string>{"decode_single", "decode_batch"}
                                  : std::vector<std::string>{"encode_single", "encode_batch"};
}
inline std::string vae_input_key(VaePart part, const std::string& name) {
  return name + (part == VaePart::decoder ? ".z" : ".image");
}
inline std::string vae_expected_key(VaePart part, const std::string& name) {
  return name + (part == VaePart::decoder ? ".output" : ".mean");
}

// Decodes (in one pass) or encodes every case of `part` under `mode` on `accelerator`; the outputs in the
// order of vae_case_names.
inline std::vector<Tensor> run_vae_cases(std::shared_ptr<Accelerator> accelerator,
                                         const vramkit::test::Mode& mode, VaePart part,
                                         const WeightFiles& golden) {
  VramManager manager(std::move(accelerator), vramkit::test::manager_options(mode));
  std::unique_ptr<QwenImageVaeDecoder> decoder;
  std::unique_ptr<QwenImageVaeEncoder> encoder;
  if (part == VaePart::decoder)
    decoder = QwenImageVaeDecoder::open(manager, kTinyVae, mode.config);
  else
    encoder = QwenImageVaeEncoder::open(manager, kTinyVae, mode.config);
  std::vector<Tensor> outputs;
  for (const std::string& name : vae_case_names(part)) {
    const Tensor input = golden.view(vae_input_key(part, name)).clone();
    outputs.push_back(decoder ? decoder->decode(input, {VaeTilingMode::never, std::nullopt})
                              : encoder->encode(input));
  }
  return outputs;
}

// The golden file's tensors, by key.
class VaeGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    golden_ = std::make_unique<WeightFiles>(WeightFiles::open(kTinyVae / "golden.safetensors"));
  }
  Tensor get(const std::string& key) const { return golden_->view(key).clone(); }

  std::unique_ptr<WeightFiles> golden_;
};

}  // namespace vramkit::qwen_image::test
