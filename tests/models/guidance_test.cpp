// True CFG against PyTorch's arithmetic on bf16 and f32 tensors (tools/golden/make_guidance_golden.py), and
// against a double-precision evaluation of the formula.
#include "models/qwen_image/guidance.h"

#include <gtest/gtest.h>

#include <cmath>

#include "io/model_files.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

const std::filesystem::path kGolden = std::filesystem::path(VRAMKIT_TEST_DATA) / "guidance" / "true_cfg.safetensors";

TEST(TrueCfg, Bf16FollowsPyTorchBitForBit) {
  const WeightFiles golden = WeightFiles::open(kGolden);
  const Tensor cond = golden.view("bf16.cond"), uncond = golden.view("bf16.uncond");
  ASSERT_EQ(cond.dtype(), DType::bf16);
  const Tensor renorm = true_cfg(cond, uncond, 4.0f, true);
  EXPECT_EQ(renorm.dtype(), DType::bf16);
  const std::vector<float> got = renorm.to_floats(), want = golden.view("bf16.out_renorm").to_floats();
  std::size_t differ = 0;
  for (std::size_t i = 0; i < got.size(); ++i) differ += got[i] != want[i];
  std::printf("[ bf16 ] %zu of %zu values differ from PyTorch's\n", differ, got.size());
  // The norms are f32 sums in a different order than PyTorch's reduction; a one-ulp difference of a norm can
  // flip the rounding of a few products.
  EXPECT_LE(differ, got.size() / 50) << differ << " of " << got.size() << " values differ";
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 0.01 * std::abs(want[i]) + 1e-6) << i;
  EXPECT_EQ(true_cfg(cond, uncond, 4.0f, false).to_floats(), golden.view("bf16.out_plain").to_floats());
}

TEST(TrueCfg, F32MatchesTheFormulaInDouble) {
  const WeightFiles golden = WeightFiles::open(kGolden);
  const std::vector<float> c = golden.view("f32.cond").to_floats(), u = golden.view("f32.uncond").to_floats();
  const std::vector<float> got = true_cfg(golden.view("f32.cond"), golden.view("f32.uncond"), 4.0f, true).to_floats();
  const std::vector<float> torch_out = golden.view("f32.out_renorm").to_floats();
  for (std::size_t row = 0; row < 10; ++row) {
    double cn = 0, bn = 0;
    std::vector<double> comb(64);
    for (std::size_t j = 0; j < 64; ++j) {
      const std::size_t i = row * 64 + j;
      comb[j] = u[i] + 4.0 * (static_cast<double>(c[i]) - u[i]);
      cn += static_cast<double>(c[i]) * c[i];
      bn += comb[j] * comb[j];
    }
    for (std::size_t j = 0; j < 64; ++j) {
      const double want = comb[j] * std::sqrt(cn) / std::sqrt(bn);
      EXPECT_NEAR(got[row * 64 + j], want, 1e-5 * (1 + std::abs(want)));
      EXPECT_NEAR(got[row * 64 + j], torch_out[row * 64 + j], 1e-5 * (1 + std::abs(want)));
    }
  }
}

TEST(TrueCfg, MismatchedInputsAreErrors) {
  const Tensor a = Tensor::zeros({2, 4}, DType::f32);
  EXPECT_THROW(true_cfg(a, Tensor::zeros({4, 2}, DType::f32), 4.0f, true), ShapeError);
  EXPECT_THROW(true_cfg(a, Tensor::zeros({2, 4}, DType::bf16), 4.0f, true), DTypeError);
  EXPECT_THROW(true_cfg(Tensor::zeros({2, 4}, DType::i32), Tensor::zeros({2, 4}, DType::i32), 4.0f, true), DTypeError);
}

}  // namespace
}  // namespace vramkit::qwen_image
