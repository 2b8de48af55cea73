// The Qwen-Image text encoder on a CUDA device: the golden cases of tests/models/text_encoder_test.cpp
// (transformers' float32 post-norm hidden states of the tiny model, real prompt-template token ids, a padded
// batch) in every memory mode, and repeated forwards. Skips without a CUDA device. The modes agree bit for
// bit for the reasons given in dit_cuda_test.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "backends/cuda/cuda_device.h"
#include "cuda_model_test_util.h"
#include "models/model_test_util.h"
#include "models/qwen_image/text_encoder.h"
#include "models/text_encoder_test_util.h"
#include "vram/manager.h"

namespace vramkit::qwen_image {
namespace {

using test::TextEncoderCase;
using vramkit::test::cuda_accelerator;
using vramkit::test::expect_every_mode_matches;
using vramkit::test::memory_modes;
using vramkit::test::Mode;
using vramkit::test::relative_l2;
using vramkit::test::with_computation;

class TextEncoderCuda : public ::testing::Test {
 protected:
  // The full-shape checkpoint (20 MB of embedding) is written once for the suite, only where the tests run.
  static void SetUpTestSuite() {
    if (cuda::device_count() == 0) return;
    model_ = new std::filesystem::path(std::filesystem::path(::testing::TempDir()) /
                                       ("vramkit_text_encoder_cuda_" + std::to_string(getpid())));
    std::filesystem::remove_all(*model_);
    test::write_full_text_encoder(*model_);
  }
  static void TearDownTestSuite() {
    if (!model_) return;
    std::filesystem::remove_all(*model_);
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    VRAMKIT_REQUIRE_CUDA();
    cases_ = test::load_text_encoder_cases();
  }

  // Every memory mode on CUDA: within `tolerance` of the reference, and the basic mode's bits in every mode.
  void check(DType computation, double tolerance) {
    std::vector<Tensor> expected;
    for (const auto& c : cases_) expected.push_back(c.expected);
    expect_every_mode_matches(computation, tolerance, expected, [&](const Mode& mode) {
      return test::run_text_encoder_cases(cuda_accelerator(), *model_, mode, cases_);
    });
  }

  static std::filesystem::path* model_;
  std::vector<TextEncoderCase> cases_;
};

std::filesystem::path* TextEncoderCuda::model_ = nullptr;

// f32 activations: the CPU's tolerance.
TEST_F(TextEncoderCuda, Float32MatchesTheReferenceInEveryMode) {
  check(DType::f32, 1e-4);
}

// bf16 activations (GQA, the causal mask and the padding through cuDNN SDPA where it supports the request,
// else the GEMM path): the CPU's tolerance.
TEST_F(TextEncoderCuda, Bfloat16StaysCloseToTheReferenceInEveryMode) {
  check(DType::bf16, 2e-2);
}

TEST_F(TextEncoderCuda, RepeatedForwardsAreIdentical) {
  ManagerOptions streamed;
  streamed.vram_limit = 0;  // the second pass must walk the ring of units again from the first one
  VramManager manager(cuda_accelerator(), streamed);
  const VramConfig config = VramConfig::preset("dynamic").with_storage_dtype(DType::bf16);
  auto encoder = QwenImageTextEncoder::open(manager, *model_, with_computation(config, DType::bf16));
  const Tensor a = encoder->forward(cases_[1].input_ids, cases_[1].attention_mask);
  const Tensor b = encoder->forward(cases_[1].input_ids, cases_[1].attention_mask);
  EXPECT_EQ(a.to_floats(), b.to_floats());
}

}  // namespace
}  // namespace vramkit::qwen_image
