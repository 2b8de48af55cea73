// The pipeline's step from text-encoder output to prompt embeddings (spec §4.4), on hidden states whose values
// name their sample and position, so that every kept, dropped, padded and cropped row is checked exactly.
#include "models/qwen_image/prompt_embeds.h"

#include <gtest/gtest.h>

#include "ops/op_test_util.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

using vramkit::test::expect_error;

constexpr std::int64_t kDim = 3;

// hidden[b, s, d] = 1000 b + s + d / 10 (exact in f32 for these sizes).
Tensor numbered_hidden_states(std::int64_t batch, std::int64_t length) {
  std::vector<float> v;
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t s = 0; s < length; ++s)
      for (std::int64_t d = 0; d < kDim; ++d) v.push_back(static_cast<float>(1000 * b + s) + 0.1f * d);
  return Tensor::from_floats({batch, length, kDim}, v);
}

Tensor mask_of(const std::vector<std::vector<int>>& rows) {
  const auto length = static_cast<std::int64_t>(rows.front().size());
  Tensor m = Tensor::zeros({static_cast<std::int64_t>(rows.size()), length}, DType::i64);
  for (std::size_t b = 0; b < rows.size(); ++b)
    for (std::int64_t s = 0; s < length; ++s)
      m.data_as<std::int64_t>()[static_cast<std::int64_t>(b) * length + s] = rows[b][static_cast<std::size_t>(s)];
  return m;
}

// The row at [b, i] of the output, as the source position it must hold (or -1 for a zero row).
void expect_rows(const PromptEmbeds& out, std::int64_t b, const std::vector<std::int64_t>& sources) {
  const std::vector<float> e = out.embeds.to_floats();
  const std::int64_t longest = out.embeds.size(1);
  ASSERT_EQ(static_cast<std::int64_t>(sources.size()), longest);
  for (std::int64_t i = 0; i < longest; ++i)
    for (std::int64_t d = 0; d < kDim; ++d) {
      const float want = sources[static_cast<std::size_t>(i)] < 0
                             ? 0.0f
                             : static_cast<float>(1000 * b + sources[static_cast<std::size_t>(i)]) + 0.1f * d;
      EXPECT_EQ(e[static_cast<std::size_t>((b * longest + i) * kDim + d)], want) << b << " " << i << " " << d;
    }
}

std::vector<std::int64_t> range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> r;
  for (std::int64_t i = from; i < to; ++i) r.push_back(i);
  return r;
}

TEST(PromptEmbeds, DropsThePrefixOfEachSampleAndPadsWithZeros) {
  // Sample 0: 40 real tokens, right-padded to 44; sample 1: 44 real tokens; sample 2: 38, left-padded.
  std::vector<int> right(44, 1), full(44, 1), left(44, 1);
  for (int s = 40; s < 44; ++s) right[static_cast<std::size_t>(s)] = 0;
  for (int s = 0; s < 6; ++s) left[static_cast<std::size_t>(s)] = 0;
  const PromptEmbeds out = qwen_image_prompt_embeds(numbered_hidden_states(3, 44), mask_of({right, full, left}));
  ASSERT_EQ(out.embeds.shape(), (Shape{3, 10, kDim}));
  std::vector<std::int64_t> s0 = range(34, 40), s2 = range(40, 44);
  s0.resize(10, -1);
  s2.resize(10, -1);
  expect_rows(out, 0, s0);
  expect_rows(out, 1, range(34, 44));
  expect_rows(out, 2, s2);  // left padding: real tokens 6..43, the 34 dropped are 6..39
  ASSERT_TRUE(out.mask.defined());
  const std::vector<float> m = out.mask.to(DType::f32).to_floats();
  EXPECT_EQ(m, (std::vector<float>{1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0,
                                   0, 0, 0, 0}));
}

TEST(PromptEmbeds, CropsToMaxSequenceLengthAndDropsAnAllOnesMask) {
  const PromptEmbeds all = qwen_image_prompt_embeds(numbered_hidden_states(1, 50), Tensor());
  EXPECT_FALSE(all.mask.defined());
  expect_rows(all, 0, range(34, 50));
  // Cropped to 5: both samples fill the 5 positions, so the mask is all ones and dropped.
  std::vector<int> short_row(50, 1);
  for (int s = 45; s < 50; ++s) short_row[static_cast<std::size_t>(s)] = 0;
  const PromptEmbeds cropped =
      qwen_image_prompt_embeds(numbered_hidden_states(2, 50), mask_of({std::vector<int>(50, 1), short_row}), 5);
  ASSERT_EQ(cropped.embeds.shape(), (Shape{2, 5, kDim}));
  EXPECT_FALSE(cropped.mask.defined());
  expect_rows(cropped, 0, range(34, 39));
  expect_rows(cropped, 1, range(34, 39));
  EXPECT_EQ(qwen_image_prompt_embeds(numbered_hidden_states(1, 50), Tensor(), 1024).embeds.size(1), 16);
}

TEST(PromptEmbeds, BadInputsAreClearErrors) {
  const Tensor h = numbered_hidden_states(2, 40);
  expect_error<ArgumentError>([&] { qwen_image_prompt_embeds(h, Tensor(), 1025); },
                              {"max_sequence_length 1025 is outside [1, 1024]"});
  expect_error<ArgumentError>([&] { qwen_image_prompt_embeds(h, Tensor(), 0); }, {"max_sequence_length 0"});
  std::vector<int> few(40, 0);
  for (int s = 0; s < 34; ++s) few[static_cast<std::size_t>(s)] = 1;
  expect_error<ArgumentError>([&] { qwen_image_prompt_embeds(h, mask_of({std::vector<int>(40, 1), few})); },
                              {"sample 1 has 34 real tokens", "34 of the prompt template's system prefix"});
  expect_error<ShapeError>([&] { qwen_image_prompt_embeds(h, mask_of({std::vector<int>(39, 1)})); },
                           {"attention_mask must be [B, S]"});
  expect_error<ShapeError>([&] { qwen_image_prompt_embeds(h.select(0, 0), Tensor()); },
                           {"hidden_states must be [B, S, D]"});
}

}  // namespace
}  // namespace vramkit::qwen_image
