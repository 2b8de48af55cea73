// The raw strided copy (ops/cuda/raw_copy_cuda.h) against Tensor::contiguous on the host: permuted u8 and i64
// views, a broadcast (stride 0) read of 2-byte elements, fp8 bytes; and its argument checks, which need no
// GPU. Bit copies: exact.
#include "ops/cuda/raw_copy_cuda.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "cuda_op_test_util.h"
#include "cuda_test_util.h"
#include "ops/op_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

// view's elements copied on the device from its stored buffer, against view.contiguous().
void check_view(const Tensor& stored, const Tensor& view, const std::string& what) {
  const cuda::DeviceBuffer src = test::to_device(stored);
  const cuda::DeviceBuffer out = test::poisoned(view.nbytes());
  const std::vector<std::int64_t> strides(view.strides().dims().begin(), view.strides().dims().end());
  const std::vector<std::int64_t> shape(view.shape().dims().begin(), view.shape().dims().end());
  const auto offset = static_cast<std::ptrdiff_t>(view.byte_offset() - stored.byte_offset());
  cuda::launch_raw_copy(static_cast<const char*>(src.data()) + offset, view.element_size(), strides,
                        out.data(), shape, nullptr);
  const Tensor got = test::from_device(out, view.shape(), view.dtype());
  const Tensor want = view.contiguous();
  EXPECT_EQ(std::memcmp(got.data(), want.data(), want.nbytes()), 0) << what << ": " << view.str();
}

TEST(CudaRawCopy, CopiesViewsBitForBit) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  const Tensor bytes = test::random_tensor({3, 4, 5}, DType::f32, seed, 0.0f, 255.0f).to(DType::u8);
  check_view(bytes, bytes.permute({2, 0, 1}), "u8 permuted");
  const Tensor ids = test::random_tensor({6, 7}, DType::f32, seed + 1, -1000.0f, 1000.0f).to(DType::i64);
  check_view(ids, ids.transpose(0, 1), "i64 transposed");
  check_view(ids, ids.slice(1, 2, 6), "i64 column slice");
  const Tensor fp8 = test::random_tensor({2, 9, 8}, DType::f8_e4m3fn, seed + 2, -100.0f, 100.0f);
  check_view(fp8, fp8.transpose(1, 2).slice(0, 1, 2), "fp8 transposed slice");
  const Tensor halves = test::random_tensor({1, 5}, DType::bf16, seed + 3);
  // A stride-0 read: the row repeated 4 times (reinterpreting the buffer as 4 x 5 with row stride 0).
  const cuda::DeviceBuffer src = test::to_device(halves);
  const cuda::DeviceBuffer out = test::poisoned(4 * 5 * 2);
  cuda::launch_raw_copy(src.data(), 2, {0, 1}, out.data(), {4, 5}, nullptr);
  const Tensor got = test::from_device(out, {4, 5}, DType::bf16);
  for (std::int64_t r = 0; r < 4; ++r)
    EXPECT_TRUE(test::same_values(got.select(0, r).contiguous(), halves.select(0, 0).contiguous(),
                                  "broadcast row " + std::to_string(r)));
}

TEST(CudaRawCopy, RejectsBadArguments) {
  test::expect_error<ArgumentError>([] { cuda::launch_raw_copy(nullptr, 3, {1}, nullptr, {4}, nullptr); },
                                    {"element size 3"});
  test::expect_error<ShapeError>(
      [] {
        cuda::launch_raw_copy(nullptr, 2, {1, 1}, nullptr, {4}, nullptr);
      },
      {"2 strides", "rank 1"});
}

}  // namespace
}  // namespace vramkit
