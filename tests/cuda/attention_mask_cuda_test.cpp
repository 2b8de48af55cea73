// The attention masking launchers (ops/cuda/attention_mask_cuda.h) against their definitions: key masks of
// every dtype to bytes (values that a narrowing cast would turn into 0 included), and -inf written exactly
// where the key padding and bottom-right causal masks hide a key, for a block of query rows that does not
// start at row 0. Exact.
#include "ops/cuda/attention_mask_cuda.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cuda_op_test_util.h"
#include "cuda_test_util.h"
#include "ops/op_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

TEST(CudaAttentionMask, MaskBytesAreNonZeroFlags) {
  VRAMKIT_REQUIRE_CUDA();
  const std::vector<float> values{0, 1, 2, 0, 256, 65536, -1, 0};
  for (DType dt : {DType::boolean, DType::u8, DType::i32, DType::i64}) {
    std::vector<float> v = values;
    if (dt == DType::boolean || dt == DType::u8)
      for (float& f : v) f = f == 0 ? 0.0f : 1.0f;
    const Tensor mask = Tensor::from_floats({8}, v).to(dt);
    const cuda::DeviceBuffer src = test::to_device(mask), out = test::poisoned(8);
    cuda::launch_mask_to_bytes(src.data(), dt, 8, static_cast<std::uint8_t*>(out.data()), nullptr);
    const Tensor got = test::from_device(out, {8}, DType::u8);
    for (std::size_t i = 0; i < values.size(); ++i)
      EXPECT_EQ(got.data_as<std::uint8_t>()[i], values[i] != 0 ? 1 : 0)
          << dtype_name(dt) << " element " << i << " (" << values[i] << ")";
  }
}

TEST(CudaAttentionMask, ScoresMaskedWhereKeysAreHidden) {
  VRAMKIT_REQUIRE_CUDA();
  const std::int64_t rows = 3, kv_len = 9, first_row = 2, q_len = 6;
  const std::vector<std::uint8_t> valid{0, 1, 1, 1, 0, 1, 1, 1, 1};
  cuda::DeviceBuffer key_valid(valid.size());
  key_valid.copy_from_host(valid.data(), valid.size());
  for (bool causal : {false, true}) {
    for (bool with_mask : {false, true}) {
      const Tensor ones = Tensor::from_floats({rows, kv_len}, std::vector<float>(rows * kv_len, 1.0f));
      const cuda::DeviceBuffer scores = test::to_device(ones);
      cuda::launch_mask_scores(static_cast<float*>(scores.data()), rows, kv_len, first_row, q_len,
                               with_mask ? static_cast<const std::uint8_t*>(key_valid.data()) : nullptr,
                               causal, nullptr);
      const std::vector<float> got = test::from_device(scores, {rows, kv_len}, DType::f32).to_floats();
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < kv_len; ++j) {
          const bool hidden =
              (causal && j > first_row + r + (kv_len - q_len)) || (with_mask && valid[j] == 0);
          const float g = got[static_cast<std::size_t>(r * kv_len + j)];
          EXPECT_EQ(g, hidden ? -INFINITY : 1.0f)
              << "row " << r << " key " << j << (causal ? " causal" : "") << (with_mask ? " masked" : "");
        }
    }
  }
}

TEST(CudaAttentionMask, RejectsBadArguments) {
  test::expect_error<DTypeError>([] { cuda::launch_mask_to_bytes(nullptr, DType::f32, 4, nullptr, nullptr); },
                                 {"cuda key mask", "f32"});
  test::expect_error<ArgumentError>(
      [] { cuda::launch_mask_scores(nullptr, -1, 4, 0, 4, nullptr, true, nullptr); },
      {"negative", "rows -1"});
}

}  // namespace
}  // namespace vramkit
