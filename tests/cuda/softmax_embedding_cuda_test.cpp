// The CUDA softmax (ops/cuda/softmax_cuda.h) against a double-precision softmax, and the CUDA embedding
// lookup (ops/cuda/embedding_cuda.h) against ops::embedding, on fresh random inputs.
// Softmax tolerances: f32 1e-7 absolute + 1e-5 relative (expf ~1 ulp, a tree sum of up to 7001 terms); bf16 /
// f16 one unit in the last place of the output (+1e-7). Masked (-inf) entries give exactly 0, a fully masked
// row zeros, a row with a NaN NaN. Embedding: rows copied bit for bit, so equal values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "cuda_op_test_util.h"
#include "cuda_test_util.h"
#include "ops/cuda/embedding_cuda.h"
#include "ops/cuda/softmax_cuda.h"
#include "ops/embedding.h"
#include "ops/op_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

// The softmax of each row of x in double, rounded to `dt`; all -inf rows give zeros.
Tensor reference_softmax(const Tensor& x, std::int64_t rows, std::int64_t cols) {
  const std::vector<float> v = x.to_floats();
  std::vector<float> y(v.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = v.data() + r * cols;
    double max = -INFINITY;
    bool nan = false;
    for (std::int64_t c = 0; c < cols; ++c) {
      max = std::max(max, static_cast<double>(row[c]));
      nan = nan || std::isnan(row[c]);
    }
    double sum = 0;
    for (std::int64_t c = 0; c < cols; ++c) sum += std::exp(row[c] - max);
    for (std::int64_t c = 0; c < cols; ++c)
      y[static_cast<std::size_t>(r * cols + c)] = nan ? NAN
                                                  : max == -INFINITY
                                                      ? 0.0f
                                                      : static_cast<float>(std::exp(row[c] - max) / sum);
  }
  return Tensor::from_floats(x.shape(), y).to(x.dtype());
}

void check_softmax(const Tensor& x, const std::string& what) {
  const std::int64_t rows = x.shape()[0], cols = x.shape()[1];
  const DType dt = x.dtype();
  const cuda::DeviceBuffer dx = test::to_device(x), out = test::poisoned(x.nbytes());
  cuda::launch_softmax(dx.data(), out.data(), dt, rows, cols, nullptr);
  EXPECT_TRUE(test::close_to(test::from_device(out, x.shape(), dt), reference_softmax(x, rows, cols), 1e-7,
                             dt == DType::f32 ? 1e-5 : test::ulp_rtol(dt), what + " " + x.str()));
}

TEST(CudaSoftmax, MatchesDoublePrecision) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    for (const Shape& shape :
         {Shape{1, 1}, Shape{3, 7}, Shape{5, 1000}, Shape{4, 1024}, Shape{3, 1025}, Shape{2, 7001}})
      check_softmax(test::random_tensor(shape, dt, seed, -20.0f, 20.0f), "softmax");
  }
}

TEST(CudaSoftmax, MaskedEntriesRowsAndNan) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  for (std::int64_t cols : {37, 2000}) {  // the warp and the block paths
    std::vector<float> v = test::random_tensor({4, cols}, DType::f32, seed, -5.0f, 5.0f).to_floats();
    for (std::int64_t c = 0; c < cols; c += 3)
      v[static_cast<std::size_t>(c)] = -INFINITY;  // row 0: some masked
    for (std::int64_t c = 0; c < cols; ++c) v[static_cast<std::size_t>(cols + c)] = -INFINITY;  // row 1: all
    v[static_cast<std::size_t>(2 * cols + cols / 2)] = NAN;  // row 2: one NaN; row 3 untouched
    for (DType dt : {DType::f32, DType::bf16})
      check_softmax(Tensor::from_floats({4, cols}, v).to(dt), "masked softmax");
  }
}

TEST(CudaEmbedding, CopiesTheRowsOfTheCpuOp) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  const std::int64_t vocab = 50, cols = 77, stride = 80;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int64_t> id(0, vocab - 1);
  std::vector<float> ids(300);
  for (float& i : ids) i = static_cast<float>(id(rng));
  ids[0] = 0, ids[1] = vocab - 1, ids[2] = ids[3];  // both ends and a repeat
  for (DType table_dt : {DType::f32, DType::bf16, DType::f8_e4m3fn}) {
    for (DType id_dt : {DType::i32, DType::i64}) {
      // The table is a [vocab, cols] view of a [vocab, stride] buffer.
      const Tensor stored = test::random_tensor({vocab, stride}, table_dt, seed + 1);
      const Tensor table = stored.slice(1, 0, cols);
      const Tensor indices = Tensor::from_floats({3, 100}, ids).to(id_dt);
      const Tensor want = ops::embedding(indices, table);
      const cuda::DeviceBuffer dtable = test::to_device(stored), dids = test::to_device(indices);
      const cuda::DeviceBuffer out = test::poisoned(want.nbytes());
      cuda::launch_embedding({dtable.data(), table_dt, vocab, cols, stride}, dids.data(), id_dt, 300,
                             out.data(), nullptr, nullptr);
      EXPECT_TRUE(test::same_values(test::from_device(out, want.shape(), table_dt), want,
                                    "embedding of " + table.str() + " by " + indices.str()));
    }
  }
}

TEST(CudaEmbedding, ReportsTheFirstIdOutOfRange) {
  VRAMKIT_REQUIRE_CUDA();
  const Tensor table = test::random_tensor({10, 33}, DType::bf16, test::fresh_seed());
  const std::vector<std::int64_t> ids = {3, 9, 10, 2, -1, 10};
  const cuda::DeviceBuffer dtable = test::to_device(table);
  cuda::DeviceBuffer dids(ids.size() * sizeof(std::int64_t)), first_bad(sizeof(std::int64_t));
  dids.copy_from_host(ids.data(), ids.size() * sizeof(std::int64_t));
  const std::int64_t none = std::numeric_limits<std::int64_t>::max();
  first_bad.copy_from_host(&none, sizeof(none));
  const cuda::DeviceBuffer out = test::poisoned(ids.size() * 33 * 2);
  cuda::launch_embedding({dtable.data(), DType::bf16, 10, 33, 33}, dids.data(), DType::i64, 6, out.data(),
                         static_cast<std::int64_t*>(first_bad.data()), nullptr);
  const Tensor got = test::from_device(out, {6, 33}, DType::bf16);
  std::int64_t bad = 0;
  first_bad.copy_to_host(&bad, sizeof(bad));
  EXPECT_EQ(bad, 2) << "position of the first id outside [0, 10)";
  const std::vector<float> g = got.to_floats(), t = table.to_floats();
  for (std::size_t i : {0u, 1u, 3u})  // the valid rows are copied
    for (std::size_t c = 0; c < 33; ++c)
      ASSERT_EQ(g[i * 33 + c], t[static_cast<std::size_t>(ids[i]) * 33 + c]) << "row " << i;
  for (std::size_t i : {2u, 4u, 5u})  // the bad rows are zeros
    for (std::size_t c = 0; c < 33; ++c) ASSERT_EQ(g[i * 33 + c], 0.0f) << "row " << i;
}

TEST(CudaEmbedding, RejectsBadArguments) {
  EXPECT_TRUE(test::throws_with<DTypeError>(
      [] {
        cuda::launch_embedding({nullptr, DType::f32, 4, 4, 4}, nullptr, DType::f32, 1, nullptr, nullptr,
                               nullptr);
      },
      {"cuda embedding", "ids dtype f32"}));
  EXPECT_TRUE(test::throws_with<ArgumentError>(
      [] {
        cuda::launch_embedding({nullptr, DType::f32, 4, 8, 4}, nullptr, DType::i64, 1, nullptr, nullptr,
                               nullptr);
      },
      {"cuda embedding", "row_stride 4"}));
}

TEST(CudaSoftmax, RejectsBadArguments) {
  EXPECT_TRUE(
      test::throws_with<DTypeError>([] { cuda::launch_softmax(nullptr, nullptr, DType::i64, 1, 1, nullptr); },
                                    {"cuda softmax", "x dtype i64"}));
  EXPECT_TRUE(test::throws_with<ArgumentError>(
      [] { cuda::launch_softmax(nullptr, nullptr, DType::f32, 2, -3, nullptr); },
      {"cuda softmax", "cols -3"}));
}

}  // namespace
}  // namespace vramkit
