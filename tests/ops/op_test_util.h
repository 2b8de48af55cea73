// Helpers of the op tests: seeded random inputs, their stored values in double, and element-wise comparisons
// against double-precision reference values with a per-element tolerance, and error-message checks.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace vramkit::test {

// Uniform values in [lo, hi) from a fixed seed, rounded once to `dtype`.
inline Tensor random_tensor(const Shape& shape, DType dtype, unsigned seed, float lo = -1.0f,
                            float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(shape.numel()));
  for (float& x : v) x = dist(rng);
  return Tensor::from_floats(shape, v).to(dtype);
}

// Normal(0, stddev) values of `shape`, rounded to `dtype` (so that the reference sees exactly the tensor's
// values).
inline Tensor random_normal(const Shape& shape, DType dtype, std::uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(static_cast<std::size_t>(shape.numel()));
  for (float& x : v) x = dist(rng);
  return Tensor::from_floats(shape, v).to(dtype);
}

// The values a tensor holds (after its own dtype's rounding), row-major, in double: the reference's inputs.
inline std::vector<double> values(const Tensor& t) {
  const std::vector<float> f = t.to_floats();
  return {f.begin(), f.end()};
}

// Expects |got[i] - want[i]| <= tol(i) for every element and the same shape; reports the first few failures.
inline void expect_close(const Tensor& got, const Shape& shape, const std::vector<double>& want,
                         const std::function<double(std::size_t)>& tol) {
  ASSERT_EQ(got.shape(), shape) << got.str();
  const std::vector<double> g = values(got);
  ASSERT_EQ(g.size(), want.size());
  int failures = 0;
  for (std::size_t i = 0; i < g.size() && failures < 5; ++i) {
    const bool ok = std::abs(g[i] - want[i]) <= tol(i) || (std::isnan(g[i]) && std::isnan(want[i]));
    if (!ok) {
      ++failures;
      ADD_FAILURE() << "element " << i << ": got " << g[i] << ", want " << want[i] << " (tolerance " << tol(i)
                    << ") in " << got.str();
    }
  }
}

inline void expect_close(const Tensor& got, const Shape& shape, const std::vector<double>& want, double atol,
                         double rtol) {
  expect_close(got, shape, want, [&](std::size_t i) { return atol + rtol * std::abs(want[i]); });
}

// Relative precision of rounding to an output dtype (half an ulp at 1, with a little slack).
inline double rounding_rtol(DType dt) {
  switch (dt) {
    case DType::bf16:
      return 1.0 / 256;
    case DType::f16:
      return 1.0 / 2048;
    default:
      return 1e-6;
  }
}

// Runs `fn`, expects it to throw E, and expects every string in `parts` in the message.
template <typename E, typename Fn>
void expect_error(Fn&& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no exception";
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

// Checks |actual - expected| <= abs_tol + rel_tol·|expected| element-wise; reports the worst element.
inline ::testing::AssertionResult all_close(const Tensor& actual, const std::vector<double>& expected,
                                            double abs_tol, double rel_tol) {
  const std::vector<double> a = values(actual);
  if (a.size() != expected.size())
    return ::testing::AssertionFailure() << "size " << a.size() << " vs expected " << expected.size();
  std::size_t worst = 0;
  double worst_excess = 0.0;
  bool ok = true;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double err = std::fabs(a[i] - expected[i]);
    const double excess = err - (abs_tol + rel_tol * std::fabs(expected[i]));
    if (!(excess <= 0.0) && (ok || excess > worst_excess || std::isnan(err))) {
      ok = false;
      worst = i;
      worst_excess = std::isnan(err) ? INFINITY : excess;
    }
  }
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "element " << worst << " of " << actual.str() << ": got " << a[worst] << ", expected "
         << expected[worst] << " (tolerance " << abs_tol << " + " << rel_tol << "·|expected|)";
}

// Runs `f` and checks that it throws E whose message contains every one of `parts`.
template <typename E>
::testing::AssertionResult throws_with(const std::function<void()>& f,
                                       const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const auto& p : parts)
      if (msg.find(p) == std::string::npos)
        return ::testing::AssertionFailure() << "message '" << msg << "' lacks '" << p << "'";
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw another type: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace vramkit::test
