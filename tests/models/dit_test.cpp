// The Qwen-Image transformer forward against diffusers' QwenImageTransformer2DModel (golden data of
// tools/golden/make_qwen_image_dit_golden.py: a tiny random-weight checkpoint and float32 reference outputs
// for a non-square grid and a padded batch with an encoder mask): the checks of dit_checks.h on the emulated
// device, then what only the CPU's kernels are held to (padded batches to 1e-6, the precomputed modulation),
// bad inputs, a failed pass and the timestep projection.
#include "models/qwen_image/dit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "common/device_under_test.h"
#include "dit_checks.h"
#include "dit_golden.h"
#include "model_test_util.h"
#include "models/qwen_image/dit_block.h"
#include "models/qwen_image/timestep_embedding.h"
#include "models/unit_cursor.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {

namespace test {
VRAMKIT_INSTANTIATE_ON_DEVICE(Emu, DitOnDevice, vramkit::test::emu_device_under_test());
}  // namespace test

namespace {

using vramkit::test::emu_accelerator;
using vramkit::test::manager_options;
using vramkit::test::relative_l2;
using vramkit::test::with_computation;

using test::DitCase;
using test::kTinyDit;
using test::streamed;

class DitParity : public ::testing::Test {
 protected:
  void SetUp() override { cases_ = test::load_dit_cases(); }
  std::vector<DitCase> cases_;
};

// Batched CFG: a padded batch of two prompts of different lengths (key padding mask) gives, per element, what
// the element gives alone and unpadded, so positive and negative prompts can share one pass over the weights.
TEST_F(DitParity, PaddedBatchMatchesEachPromptAlone) {
  VramManager manager(emu_accelerator(), {});
  auto dit = QwenImageDit::open(manager, kTinyDit, with_computation(VramConfig::preset("none"), DType::f32));
  const DitInputs& batch = cases_[1].inputs;  // element 1 holds 4 real tokens of 6
  const Tensor together = dit->forward(batch);
  DitInputs alone = batch;
  alone.hidden_states = batch.hidden_states.slice(0, 1, 2).contiguous();
  alone.encoder_hidden_states = batch.encoder_hidden_states.slice(0, 1, 2).slice(1, 0, 4).contiguous();
  alone.timestep = batch.timestep.slice(0, 1, 2).contiguous();
  alone.encoder_mask = Tensor();
  const Tensor single = dit->forward(alone);
  // Only the summation length of the softmax differs (masked keys contribute exact zeros).
  EXPECT_LE(relative_l2(together.slice(0, 1, 2).contiguous(), single), 1e-6);
}

// The text padding as the joint attention sees it, keys [image, text]: text masks of valid tokens then
// padding become the valid length of each joint sequence (nothing when no token is padding); a mask with a
// hole (or left padding) stays a mask, ones for the image, then the text mask.
TEST(JointKeys, LeadingValidTokensBecomeLengthsElseAMask) {
  const Tensor prefixes =
      Tensor::from_floats({2, 4}, std::vector<float>{1, 1, 1, 1, 1, 1, 0, 0}).to(DType::i64);
  const JointKeys lengths = joint_keys(prefixes, 3);
  EXPECT_EQ(lengths.lengths, (std::vector<std::int64_t>{7, 5}));
  EXPECT_FALSE(lengths.mask.defined());
  const JointKeys none =
      joint_keys(Tensor::from_floats({2, 4}, std::vector<float>(8, 1.0f)).to(DType::i64), 3);
  EXPECT_TRUE(none.lengths.empty());
  EXPECT_FALSE(none.mask.defined());
  const Tensor hole = Tensor::from_floats({2, 4}, std::vector<float>{1, 1, 1, 1, 1, 0, 1, 0}).to(DType::i64);
  const JointKeys masked = joint_keys(hole, 3);
  EXPECT_TRUE(masked.lengths.empty());
  ASSERT_TRUE(masked.mask.defined());
  EXPECT_EQ(masked.mask.dtype(), DType::u8);
  EXPECT_EQ(masked.mask.to_floats(), (std::vector<float>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0}));
}

TEST_F(DitParity, MismatchedInputsAreShapeErrors) {
  VramManager manager(emu_accelerator(), {});
  auto dit = QwenImageDit::open(manager, kTinyDit, with_computation(VramConfig::preset("none"), DType::f32));
  DitInputs bad_grid = cases_[0].inputs;
  bad_grid.grid = {1, 5, 3};  // same token count, fine
  EXPECT_NO_THROW(dit->forward(bad_grid));
  bad_grid.grid = {1, 4, 4};
  EXPECT_THROW(dit->forward(bad_grid), ShapeError);
  DitInputs bad_text = cases_[0].inputs;
  bad_text.encoder_hidden_states = Tensor::zeros({1, 7, 47}, DType::f32);
  EXPECT_THROW(dit->forward(bad_text), ShapeError);
  DitInputs bad_mask = cases_[1].inputs;
  bad_mask.encoder_mask = Tensor::zeros({2, 5}, DType::i64);
  EXPECT_THROW(dit->forward(bad_mask), ShapeError);
}

// Modulation precomputed for a whole schedule in one pass gives the forward the same result as computing it
// per call, and afterwards a streamed forward moves only the token-stream units' bytes.
TEST_F(DitParity, PrecomputedModulationMatchesThePlainForward) {
  VramManager manager(emu_accelerator(), manager_options(0));
  auto dit = QwenImageDit::open(manager, kTinyDit, streamed(DType::bf16, DType::f32));

  // A schedule holding the golden cases' timesteps among others, in another order.
  std::vector<float> schedule{1.0f, 0.8f};
  for (const DitCase& c : cases_)
    for (const float t : c.inputs.timestep.to_floats()) schedule.push_back(t);
  schedule.push_back(0.125f);
  const DitModulation table =
      dit->precompute_modulation(Tensor::from_floats({static_cast<std::int64_t>(schedule.size())}, schedule));
  EXPECT_FALSE(dit->managed_modulation().onloaded());
  ASSERT_EQ(table.image.size(), 2u);
  EXPECT_EQ(table.image[0].shape(), (Shape{static_cast<std::int64_t>(schedule.size()), 6 * 64}));

  std::uint64_t token_stream_bytes = 0;
  for (const auto& u : dit->managed().units()) token_stream_bytes += u.stream.bytes;
  manager.telemetry().reset();
  for (const DitCase& c : cases_) {
    const Tensor with_table = dit->forward(c.inputs, &table);
    // Not bit for bit: the modulation GEMMs run on S rows instead of B, and the BLAS blocks them differently.
    EXPECT_LE(relative_l2(with_table, dit->forward(c.inputs)), 1e-6);
    EXPECT_LE(relative_l2(with_table, c.expected), 1e-4);
  }
  dit->offload();
  EXPECT_FALSE(dit->managed().onloaded());

  // Two forwards with the table, two without (which also stream the modulation units).
  std::uint64_t modulation_bytes = 0;
  for (const auto& u : dit->managed_modulation().units()) modulation_bytes += u.stream.bytes;
  const std::uint64_t moved = manager.snapshot().bytes_host_to_device;
  EXPECT_GE(moved, 4 * token_stream_bytes + 2 * modulation_bytes);
  EXPECT_LE(moved, 4 * token_stream_bytes + 2 * modulation_bytes + dit->managed().plan().ring_bytes +
                       dit->managed_modulation().plan().ring_bytes);

  DitInputs unknown = cases_[0].inputs;
  unknown.timestep = Tensor::from_floats({1}, std::vector<float>{0.3f});
  EXPECT_THROW(dit->forward(unknown, &table), ArgumentError);
}

// A pass that throws midway (here after three units) must not leave the streamed sequence out of step: the
// cursor rewinds the model, and the next forward reads the right weights.
TEST_F(DitParity, AForwardThatFailsMidwayLeavesTheModelUsable) {
  VramManager manager(emu_accelerator(), manager_options(0));
  auto dit = QwenImageDit::open(manager, kTinyDit, streamed(DType::bf16, DType::f32));
  const Tensor before = dit->forward(cases_[0].inputs);
  const auto fail_after_three_units = [&] {
    UnitCursor units(dit->managed());
    for (std::size_t i = 0; i < 3; ++i) units.next(dit->managed().units()[i].name);
    throw ShapeError("a failure inside the pass");
  };
  EXPECT_THROW(fail_after_three_units(), ShapeError);
  EXPECT_EQ(dit->forward(cases_[0].inputs).to_floats(), before.to_floats());
}

// get_timestep_embedding(t, 256, flip_sin_to_cos=True, downscale_freq_shift=0, scale=1000), in double here.
TEST(TimestepProjection, MatchesTheSinusoidInDouble) {
  const Tensor t = Tensor::from_floats({2}, std::vector<float>{0.73f, 0.0625f});
  const std::vector<float> got = timestep_projection(t, 256, DType::f32).to_floats();
  const std::vector<double> ts{0.73f, 0.0625f};
  for (std::size_t b = 0; b < 2; ++b)
    for (int k = 0; k < 128; ++k) {
      const double arg = 1000.0 * ts[b] * std::exp(-std::log(10000.0) * k / 128.0);
      // arg reaches 730 rad: f32 rounding of the angle (≈ 730·2⁻²⁴) bounds the difference.
      EXPECT_NEAR(got[b * 256 + static_cast<std::size_t>(k)], std::cos(arg), 1e-4) << b << " " << k;
      EXPECT_NEAR(got[b * 256 + 128 + static_cast<std::size_t>(k)], std::sin(arg), 1e-4) << b << " " << k;
    }
  EXPECT_THROW(timestep_projection(Tensor::zeros({2, 1}, DType::f32), 256, DType::f32), ShapeError);
}

}  // namespace
}  // namespace vramkit::qwen_image
