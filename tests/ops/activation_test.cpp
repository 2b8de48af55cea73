#include "ops/activation.h"

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

double gelu_erf(double x) {
  return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
}
double gelu_tanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
double silu(double x) {
  return x / (1 + std::exp(-x));
}

template <typename Fn>
std::vector<double> map(const std::vector<double>& v, Fn fn) {
  std::vector<double> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = fn(v[i]);
  return out;
}

// Inputs in [-8, 8): f32 libm calls and a few f32 operations err by a few ulp of values up to 8, so 4e-6
// absolute; the output's rounding adds rounding_rtol(dtype)·|y|.
constexpr double kActAtol = 4e-6;

TEST(Activation, GeluBothFormsSiluAcrossDTypes) {
  unsigned seed = 1;
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    const double rtol = test::rounding_rtol(dt);
    const Tensor x = random_tensor({3, 7, 33}, dt, seed++, -8.0f, 8.0f);
    const auto xv = values(x);
    expect_close(ops::gelu(x, ops::GeluApproximation::none), x.shape(), map(xv, gelu_erf), kActAtol, rtol);
    expect_close(ops::gelu(x, ops::GeluApproximation::tanh), x.shape(), map(xv, gelu_tanh), kActAtol, rtol);
    expect_close(ops::silu(x), x.shape(), map(xv, silu), kActAtol, rtol);
  }
  // The two GELU forms differ by 4.7e-4 at x = 2.7: a test of one against the other's reference fails.
  const Tensor x27 = Tensor::from_floats({1}, std::vector<float>{2.7f});
  EXPECT_GT(std::abs(values(ops::gelu(x27, ops::GeluApproximation::tanh))[0] - gelu_erf(2.7)), 4e-4);
}

TEST(Activation, ExtremeInputsAndStridedLargeInput) {
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor x = Tensor::from_floats({4}, std::vector<float>{-200.0f, 200.0f, -inf, inf});
  // Large |x| saturates without overflow trouble; -inf gives NaN (-inf · 0) as in PyTorch.
  for (const Tensor& y : {ops::silu(x), ops::gelu(x, ops::GeluApproximation::tanh)}) {
    const auto v = values(y);
    EXPECT_EQ(v[0], 0.0);
    EXPECT_EQ(v[1], 200.0);
    EXPECT_TRUE(std::isnan(v[2]));
    EXPECT_EQ(v[3], inf);
  }
  // 70000 elements through a transposed view: the threaded path of the row engine with strided rows.
  const Tensor big = random_tensor({700, 100}, DType::bf16, 9, -8.0f, 8.0f).transpose(0, 1);
  expect_close(ops::gelu(big, ops::GeluApproximation::tanh), big.shape(), map(values(big), gelu_tanh),
               kActAtol, test::rounding_rtol(DType::bf16));
}

// In place: gelu's bits, over x itself, for every dtype and for rows big enough to thread.
TEST(Activation, GeluInPlaceHasGelusBits) {
  unsigned seed = 20;
  for (DType dt : {DType::f32, DType::bf16, DType::f16})
    for (const Shape& shape : {Shape{3, 7, 33}, Shape{300, 257}})
      for (auto approx : {ops::GeluApproximation::none, ops::GeluApproximation::tanh}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " " + shape.str());
        const Tensor x = random_tensor(shape, dt, seed++, -8.0f, 8.0f);
        const Tensor want = ops::gelu(x, approx);
        const void* storage = x.data();
        ops::gelu_in_place(x, approx);
        EXPECT_EQ(x.data(), storage);
        EXPECT_EQ(values(x), values(want));
      }
  // A contiguous slice of rows changes those rows alone.
  const Tensor whole = random_tensor({4, 16}, DType::bf16, 30, -8.0f, 8.0f);
  const auto before = values(whole);
  const Tensor rows = whole.slice(0, 1, 3);
  const auto want = values(ops::gelu(rows, ops::GeluApproximation::tanh));
  ops::gelu_in_place(rows, ops::GeluApproximation::tanh);
  const auto after = values(whole);
  for (std::size_t i = 0; i < after.size(); ++i) {
    if (i >= 16 && i < 48) {
      EXPECT_EQ(after[i], want[i - 16]) << i;
    } else {
      EXPECT_EQ(after[i], before[i]) << i;
    }
  }
}

TEST(Activation, SwigluSeparateAndFused) {
  for (DType dt : {DType::f32, DType::bf16}) {
    const double rtol = test::rounding_rtol(dt);
    const Tensor gate = random_tensor({2, 5, 19}, dt, 3, -8.0f, 8.0f), up = random_tensor({2, 5, 19}, dt, 4);
    const auto gv = values(gate), uv = values(up);
    std::vector<double> want(gv.size());
    for (std::size_t i = 0; i < gv.size(); ++i) want[i] = silu(gv[i]) * uv[i];
    expect_close(ops::swiglu(gate, up), gate.shape(), want, kActAtol, rtol);
    // Fused: [gate | up] along the last dimension, gate first.
    Tensor fused = Tensor::empty({2, 5, 38}, dt);
    fused.slice(-1, 0, 19).copy_from(gate);
    fused.slice(-1, 19, 38).copy_from(up);
    expect_close(ops::swiglu(fused), gate.shape(), want, kActAtol, rtol);
  }
}

TEST(Activation, RejectsBadArguments) {
  const Tensor x = random_tensor({2, 7}, DType::f32, 1);
  expect_error<ShapeError>([&] { ops::swiglu(x); }, {"swiglu", "f32[2, 7]", "even"});
  expect_error<ShapeError>([&] { ops::swiglu(x, random_tensor({3}, DType::f32, 2)); },
                           {"swiglu", "gate f32[2, 7]", "up f32[3]"});
  expect_error<DTypeError>([&] { ops::silu(x.to(DType::i32)); }, {"silu", "x", "i32"});
  expect_error<DTypeError>([&] { ops::gelu(x.to(DType::f8_e5m2), ops::GeluApproximation::none); },
                           {"gelu", "x"});
  expect_error<ArgumentError>([&] { ops::gelu_in_place(x.transpose(0, 1), ops::GeluApproximation::tanh); },
                              {"gelu_in_place", "f32[7, 2]", "contiguous"});
  expect_error<DTypeError>([&] { ops::gelu_in_place(x.to(DType::i32), ops::GeluApproximation::tanh); },
                           {"gelu_in_place", "x", "i32"});
}

}  // namespace
}  // namespace vramkit
