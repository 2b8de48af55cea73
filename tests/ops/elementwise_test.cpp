#include "ops/elementwise.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "op_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

using test::expect_close;
using test::expect_error;
using test::random_tensor;
using test::values;

// Reference of an element-wise function of broadcast operands: index arithmetic on each operand's row-major
// values, independent of the kernels' strides and row engine.
template <typename Fn>
std::vector<double> reference(const Shape& out, std::initializer_list<const Tensor*> inputs, Fn fn) {
  std::vector<std::vector<double>> vals;
  for (const Tensor* t : inputs) vals.push_back(values(*t));
  std::vector<double> result(static_cast<std::size_t>(out.numel()));
  std::vector<double> args(inputs.size());
  for (std::int64_t flat = 0; flat < out.numel(); ++flat) {
    std::size_t k = 0;
    for (const Tensor* t : inputs) {
      std::int64_t rest = flat, index = 0, stride = 1;
      for (int d = out.rank() - 1; d >= 0; --d) {
        const std::int64_t i = rest % out[d];
        rest /= out[d];
        const int td = d - (out.rank() - t->rank());
        if (td < 0) continue;
        if (t->size(td) != 1) index += i * stride;
        stride *= t->size(td);
      }
      args[k] = vals[k][static_cast<std::size_t>(index)];
      ++k;
    }
    result[static_cast<std::size_t>(flat)] = fn(args);
  }
  return result;
}

// Inputs lie in [-1, 1): one f32 operation on them errs by < 1e-6 absolute; the output's rounding adds
// rounding_rtol(dtype)·|y|.
constexpr double kF32Atol = 1e-6;

TEST(Elementwise, AddAndMulBroadcastAcrossDTypes) {
  unsigned seed = 1;
  for (DType da : {DType::f32, DType::bf16, DType::f16})
    for (DType db : {DType::f32, DType::bf16}) {
      SCOPED_TRACE(std::string(dtype_name(da)) + " with " + std::string(dtype_name(db)));
      const double rtol = test::rounding_rtol(da);
      const Tensor a = random_tensor({2, 3, 5}, da, seed++), vec = random_tensor({5}, db, seed++);
      expect_close(ops::add(a, vec), {2, 3, 5},
                   reference({2, 3, 5}, {&a, &vec}, [](auto& v) { return v[0] + v[1]; }), kF32Atol, rtol);
      // Both operands expand: [2, 1, 5] with [3, 1] -> [2, 3, 5].
      const Tensor p = random_tensor({2, 1, 5}, da, seed++), q = random_tensor({3, 1}, db, seed++);
      expect_close(ops::mul(p, q), {2, 3, 5},
                   reference({2, 3, 5}, {&p, &q}, [](auto& v) { return v[0] * v[1]; }), kF32Atol, rtol);
      const Tensor scalar = random_tensor({}, db, seed++);
      expect_close(ops::add(a, scalar), {2, 3, 5},
                   reference({2, 3, 5}, {&a, &scalar}, [](auto& v) { return v[0] + v[1]; }), kF32Atol, rtol);
    }
}

TEST(Elementwise, ModulateWithPerSampleShiftAndScale) {
  // The AdaLN use: x [B, L, D], shift/scale [B, D] passed as [B, 1, D]; x as a transposed view.
  for (DType dt : {DType::bf16, DType::f32}) {
    const Tensor x = random_tensor({2, 6, 7}, dt, 1).transpose(1, 2);
    const Tensor mod = random_tensor({2, 12}, DType::f32, 2);
    const Tensor shift = mod.slice(1, 0, 6).unsqueeze(1), scale = mod.slice(1, 6, 12).unsqueeze(1);
    expect_close(ops::modulate(x, shift, scale), {2, 7, 6},
                 reference({2, 7, 6}, {&x, &shift, &scale}, [](auto& v) { return v[0] * (1 + v[2]) + v[1]; }),
                 3 * kF32Atol, test::rounding_rtol(dt));
  }
}

TEST(Elementwise, GatedResidualLargeEnoughToThread) {
  // 64 x 1024 elements takes the multi-threaded path of the row engine.
  const Tensor x = random_tensor({2, 32, 1024}, DType::bf16, 3);
  const Tensor gate = random_tensor({2, 1, 1024}, DType::bf16, 4),
               y = random_tensor({2, 32, 1024}, DType::f32, 5);
  expect_close(ops::gated_residual(x, gate, y), {2, 32, 1024},
               reference({2, 32, 1024}, {&x, &gate, &y}, [](auto& v) { return v[0] + v[1] * v[2]; }),
               2 * kF32Atol, test::rounding_rtol(DType::bf16));
}

TEST(Elementwise, ScaleClampAndCast) {
  const Tensor x = random_tensor({3, 9}, DType::f16, 6, -4.0f, 4.0f).slice(1, 1, 9, 2);
  expect_close(ops::scale(x, 0.125), {3, 4}, reference({3, 4}, {&x}, [](auto& v) { return v[0] * 0.125; }), 0,
               0);
  expect_close(ops::clamp(x, -1.5, 2.0), {3, 4},
               reference({3, 4}, {&x}, [](auto& v) { return std::min(std::max(v[0], -1.5), 2.0); }), 0, 0);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const Tensor special = Tensor::from_floats({4}, std::vector<float>{nan, inf, -inf, 0.5f});
  const auto clamped = values(ops::clamp(special, -1, 1));
  EXPECT_TRUE(std::isnan(clamped[0]));
  EXPECT_EQ(clamped[1], 1.0);
  EXPECT_EQ(clamped[2], -1.0);
  EXPECT_EQ(clamped[3], 0.5);
  const Tensor big = Tensor::from_floats({3}, std::vector<float>{1000.0f, -0.1f, 3.0f});
  const Tensor fp8 = ops::cast(big, DType::f8_e4m3fn);
  EXPECT_EQ(fp8.dtype(), DType::f8_e4m3fn);
  // Saturating: 1000 -> 448; -0.1 is between the e4m3 codes -0.1015625 and -0.09765625, nearer the first.
  EXPECT_EQ(values(fp8), (std::vector<double>{448.0, -0.1015625, 3.0}));
}

TEST(Elementwise, RejectsBadArguments) {
  const Tensor a = random_tensor({2, 3}, DType::f32, 1);
  expect_error<ShapeError>([&] { ops::add(a, random_tensor({4}, DType::f32, 2)); },
                           {"add", "f32[2, 3]", "f32[4]", "broadcast"});
  expect_error<ShapeError>(
      [&] {
        ops::modulate(random_tensor({2, 5, 3}, DType::bf16, 3), random_tensor({2, 3}, DType::f32, 4), a);
      },
      {"modulate", "x bf16[2, 5, 3]", "shift f32[2, 3]", "broadcast"});
  expect_error<DTypeError>([&] { ops::mul(a, a.to(DType::i32)); }, {"mul", "b", "i32"});
  expect_error<DTypeError>([&] { ops::gated_residual(a, a.to(DType::f8_e4m3fn), a); },
                           {"gated_residual", "gate"});
  expect_error<ArgumentError>([&] { ops::clamp(a, 1, -1); }, {"clamp", "f32[2, 3]", "lo"});
  expect_error<ArgumentError>([&] { ops::scale(Tensor(), 2); }, {"scale", "x"});
}

}  // namespace
}  // namespace vramkit
