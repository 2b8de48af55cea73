// Helpers shared by the attention, rope, layout and conv tests: seeded random tensors, logical-order values
// as doubles, and an element-wise comparison that reports the first mismatch with its index.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace vramkit::testing {

// Normal(0, stddev) values of `shape`, rounded to `dtype` (so that the reference sees exactly the tensor's
// values).
inline Tensor random_tensor(const Shape& shape, DType dtype, std::uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(static_cast<std::size_t>(shape.numel()));
  for (float& x : v) x = dist(rng);
  return Tensor::from_floats(shape, v).to(dtype);
}

// Every element in logical row-major order, whatever the strides.
inline std::vector<double> values(const Tensor& t) {
  const std::vector<float> f = t.to_floats();
  return {f.begin(), f.end()};
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

}  // namespace vramkit::testing
