// The CUDA RoPE (ops/cuda/rope_cuda.h) against ops::apply_rope on fresh random inputs and random angles: both
// pairings, a table shared by the batch and one per batch element, head dims 64 and 128 and a small odd
// number of pairs, every activation dtype, in place. Tolerance: none — the kernel follows the CPU's f32
// arithmetic (products rounded, then the sum), so the values are equal.
#include "ops/cuda/rope_cuda.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "cuda_op_test_util.h"
#include "cuda_test_util.h"
#include "ops/op_test_util.h"
#include "ops/rope.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

// cos / sin of random angles in [-100, 100) (positions up to a few thousand times ω ≤ 1 give such angles).
ops::RopeTable random_table(const Shape& shape, ops::RopeStyle style, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> angle(-100.0f, 100.0f);
  std::vector<float> c(static_cast<std::size_t>(shape.numel())), s(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) {
    const float a = angle(rng);
    c[i] = std::cos(a);
    s[i] = std::sin(a);
  }
  return {style, Tensor::from_floats(shape, c), Tensor::from_floats(shape, s)};
}

TEST(CudaRope, MatchesTheCpuExactly) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  const cuda::RopeDims shapes[] = {{2, 7, 3, 128}, {1, 33, 5, 64}, {2, 5, 2, 6}};
  for (ops::RopeStyle style : {ops::RopeStyle::interleaved, ops::RopeStyle::rotate_half}) {
    for (bool per_batch : {false, true}) {
      for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
        for (const cuda::RopeDims& d : shapes) {
          const Tensor x = test::random_tensor({d.batch, d.len, d.heads, d.head_dim}, dt, seed, -3.0f, 3.0f);
          const Shape table_shape =
              per_batch ? Shape{d.batch, d.len, d.head_dim / 2} : Shape{d.len, d.head_dim / 2};
          const ops::RopeTable table = random_table(table_shape, style, seed + 1);
          const Tensor want = ops::apply_rope(x, table);
          const cuda::DeviceBuffer dx = test::to_device(x), dcos = test::to_device(table.cos),
                                   dsin = test::to_device(table.sin), out = test::poisoned(x.nbytes());
          cuda::launch_rope(dx.data(), out.data(), dt, d, static_cast<const float*>(dcos.data()),
                            static_cast<const float*>(dsin.data()), per_batch,
                            style == ops::RopeStyle::interleaved, nullptr);
          EXPECT_TRUE(test::same_values(
              test::from_device(out, x.shape(), dt), want,
              std::string(style == ops::RopeStyle::interleaved ? "interleaved" : "rotate_half") +
                  " rope of " + x.str() + " by a table " + table_shape.str()));
        }
      }
    }
  }
}

TEST(CudaRope, InPlaceGivesTheSameResult) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  const cuda::RopeDims d{2, 9, 4, 128};
  const Tensor x = test::random_tensor({2, 9, 4, 128}, DType::bf16, seed);
  const ops::RopeTable table = random_table({9, 64}, ops::RopeStyle::interleaved, seed + 1);
  const cuda::DeviceBuffer dx = test::to_device(x), dcos = test::to_device(table.cos),
                           dsin = test::to_device(table.sin);
  cuda::launch_rope(dx.data(), dx.data(), DType::bf16, d, static_cast<const float*>(dcos.data()),
                    static_cast<const float*>(dsin.data()), false, true, nullptr);
  EXPECT_TRUE(test::same_values(test::from_device(dx, x.shape(), DType::bf16), ops::apply_rope(x, table),
                                "in-place rope"));
}

TEST(CudaRope, RejectsBadArguments) {
  EXPECT_TRUE(test::throws_with<ArgumentError>(
      [] {
        cuda::launch_rope(nullptr, nullptr, DType::f32, {1, 1, 1, 7}, nullptr, nullptr, false, true, nullptr);
      },
      {"cuda rope", "head_dim 7 is odd"}));
  EXPECT_TRUE(test::throws_with<DTypeError>(
      [] {
        cuda::launch_rope(nullptr, nullptr, DType::i32, {1, 1, 1, 8}, nullptr, nullptr, false, true, nullptr);
      },
      {"cuda rope", "x dtype i32"}));
}

}  // namespace
}  // namespace vramkit
