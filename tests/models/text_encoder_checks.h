// The Qwen-Image text encoder's checks on any accelerator (device_under_test.h; instantiated for the emulated
// device in text_encoder_test.cpp and for CUDA in tests/cuda_models/text_encoder_cuda_test.cpp): the golden
// cases of text_encoder_test_util.h (transformers' float32 post-norm hidden states of the tiny model, real
// prompt-template token ids, a padded batch) in every memory mode, which must agree bit for bit (dit_checks.h
// says why on CUDA too), and repeated forwards.
//
// Holds TEST_P definitions: include it in one source file per test binary.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/device_under_test.h"
#include "model_test_util.h"
#include "models/qwen_image/text_encoder.h"
#include "text_encoder_test_util.h"
#include "vram/manager.h"

namespace vramkit::qwen_image::test {

class TextEncoderOnDevice : public ::testing::TestWithParam<vramkit::test::DeviceUnderTest> {
 protected:
  void SetUp() override {
    VRAMKIT_REQUIRE_DEVICE(GetParam());
    cases_ = load_text_encoder_cases();
  }

  std::shared_ptr<Accelerator> accelerator() const { return GetParam().accelerator(); }

  // Every memory mode: within `tolerance` of the reference, and the basic mode's bits in every mode.
  void check(DType computation, double tolerance) {
    std::vector<Tensor> expected;
    for (const auto& c : cases_) expected.push_back(c.expected);
    vramkit::test::expect_every_mode_matches(
        computation, tolerance, expected, [&](const vramkit::test::Mode& mode) {
          return run_text_encoder_cases(accelerator(), shared_full_text_encoder(), mode, cases_);
        });
  }

  std::vector<TextEncoderCase> cases_;
};

// f32 activations on the exact (bf16-valued) weights: only summation order and libm differ from PyTorch; CUDA
// keeps the CPU's tolerance.
TEST_P(TextEncoderOnDevice, Float32MatchesTheReferenceInEveryMode) {
  check(DType::f32, 1e-4);
}

// bf16 activations: every op rounds to bf16 (8 bits of mantissa) over two layers. On CUDA GQA, the causal
// mask and the padding go through cuDNN SDPA where it supports the request, else the GEMM path; the CPU's
// tolerance.
TEST_P(TextEncoderOnDevice, Bfloat16StaysCloseToTheReferenceInEveryMode) {
  check(DType::bf16, 2e-2);
}

// Streamed, so that the second pass must walk the ring of units again from the first one; f32 and bf16,
// opened by the text encoder's own folder.
TEST_P(TextEncoderOnDevice, RepeatedForwardsAreIdentical) {
  for (const DType computation : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(dtype_name(computation));
    VramManager manager(accelerator(), vramkit::test::manager_options(0));
    const VramConfig config = VramConfig::preset("dynamic").with_storage_dtype(DType::bf16);
    auto encoder = QwenImageTextEncoder::open(manager, shared_full_text_encoder() / "text_encoder",
                                              vramkit::test::with_computation(config, computation));
    const Tensor a = encoder->forward(cases_[1].input_ids, cases_[1].attention_mask);
    const Tensor b = encoder->forward(cases_[1].input_ids, cases_[1].attention_mask);
    EXPECT_EQ(a.to_floats(), b.to_floats());
  }
}

}  // namespace vramkit::qwen_image::test
