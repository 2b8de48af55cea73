// Shared by the CUDA op tests: fresh random seeds (printed with every failure), host tensors copied to device
// buffers, outputs poisoned before each launch, read back as host tensors, and comparisons against the CPU
// op's result that report how many elements failed and the worst of them.
#pragma once

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_device.h"
#include "core/tensor.h"

namespace vramkit::test {

// A seed from the OS: every run draws new inputs. Tests wrap their body in SCOPED_TRACE(seed_trace(seed)) so
// a failure says which seed reproduces it.
inline std::uint32_t fresh_seed() {
  return std::random_device{}();
}
inline std::string seed_trace(std::uint32_t seed) {
  return "random seed " + std::to_string(seed);
}

// |t| element-wise, f32: the tolerances of sums scale with the same sum over absolute values.
inline Tensor absolute(const Tensor& t) {
  std::vector<float> v = t.to_floats();
  for (float& f : v) f = std::fabs(f);
  return Tensor::from_floats(t.shape(), v);
}

// v [B, Lk, Hkv, D] with every padded key's values (valid[b·Lk + j] == 0) set to 50: a kernel that lets a
// padded key through moves the output far off.
inline Tensor poison_padded_values(const Tensor& v, const std::vector<float>& valid) {
  std::vector<float> values = v.to_floats();
  const auto key_values = static_cast<std::size_t>(v.size(2) * v.size(3));
  for (std::size_t key = 0; key < valid.size(); ++key)
    if (valid[key] == 0.0f)
      for (std::size_t e = 0; e < key_values; ++e) values[key * key_values + e] = 50.0f;
  return Tensor::from_floats(v.shape(), values).to(v.dtype());
}

// A device copy of a host tensor's elements (made contiguous first).
inline cuda::DeviceBuffer to_device(const Tensor& t) {
  const Tensor c = t.contiguous();
  cuda::DeviceBuffer buffer(c.nbytes());
  if (c.nbytes() > 0) buffer.copy_from_host(c.data(), c.nbytes());
  return buffer;
}

// Device memory filled with 0xFF bytes: NaN in f32, bf16 and f16 (all-ones exponent, non-zero mantissa), so
// an element a kernel forgets to write reads back as NaN and fails the comparison.
inline cuda::DeviceBuffer poisoned(std::size_t bytes) {
  cuda::DeviceBuffer buffer(bytes);
  if (bytes > 0) VRAMKIT_CUDA_CHECK(cudaMemset(buffer.data(), 0xFF, bytes));
  return buffer;
}

// Waits for the launches on the legacy default stream and reads `shape` elements of `dtype` back.
inline Tensor from_device(const void* device_data, const Shape& shape, DType dtype) {
  VRAMKIT_CUDA_CHECK(cudaDeviceSynchronize());
  Tensor t = Tensor::empty(shape, dtype);
  if (t.nbytes() > 0)
    VRAMKIT_CUDA_CHECK(cudaMemcpy(t.data(), device_data, t.nbytes(), cudaMemcpyDeviceToHost));
  return t;
}
inline Tensor from_device(const cuda::DeviceBuffer& buffer, const Shape& shape, DType dtype) {
  return from_device(buffer.data(), shape, dtype);
}

// got == want (infinities too) or |got - want| <= tolerance[i] for every element (NaN only where want is
// NaN), same shape and dtype. On failure: the number of bad elements, the worst one and the first three, with
// `what` naming the case.
inline ::testing::AssertionResult close_to(const Tensor& got, const Tensor& want,
                                           const std::vector<double>& tolerance, const std::string& what) {
  if (got.shape() != want.shape() || got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << what << ": got " << got.str() << ", want " << want.str();
  const std::vector<float> g = got.to_floats(), w = want.to_floats();
  std::size_t bad = 0, worst = 0;
  double worst_excess = -1;
  std::ostringstream first;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double err = std::fabs(static_cast<double>(g[i]) - w[i]);
    const bool ok = std::isnan(w[i]) ? std::isnan(g[i]) : g[i] == w[i] || err <= tolerance[i];
    if (ok) continue;
    const double excess = std::isnan(err) ? INFINITY : err - tolerance[i];
    if (excess > worst_excess) worst_excess = excess, worst = i;
    if (++bad <= 3)
      first << "\n  element " << i << ": got " << g[i] << ", want " << w[i] << " (tolerance " << tolerance[i]
            << ")";
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << g.size() << " elements of "
                                       << want.str() << " out of tolerance; worst element " << worst
                                       << ": got " << g[worst] << ", want " << w[worst] << first.str();
}

// The same with tolerance atol + rtol·|want| per element.
inline ::testing::AssertionResult close_to(const Tensor& got, const Tensor& want, double atol, double rtol,
                                           const std::string& what) {
  const std::vector<float> w = want.to_floats();
  std::vector<double> tolerance(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) tolerance[i] = atol + rtol * std::fabs(w[i]);
  return close_to(got, want, tolerance, what);
}

// Relative size of one unit in the last place of an output dtype at 1 (two roundings of the same f32 value by
// different paths may differ by one such unit).
inline double ulp_rtol(DType dt) {
  switch (dt) {
    case DType::bf16:
      return 1.0 / 128;
    case DType::f16:
      return 1.0 / 1024;
    default:
      return 1.0 / (1 << 23);
  }
}

// `tolerance` plus one unit in the last place of `product` (a GEMM's result before its bias) per element:
// cuBLASLt's epilogue on sm_90 adds the bias, and the C of a beta = 1 product, to the product already rounded
// to the output dtype (seen on an H100, 2026-11-28: a bf16 result 4 of its units off where the bias cancelled
// most of the product), where the CPU rounds the sum once.
inline std::vector<double> with_product_rounding(std::vector<double> tolerance, const Tensor& product) {
  const std::vector<float> p = product.to_floats();
  for (std::size_t i = 0; i < tolerance.size(); ++i)
    tolerance[i] += ulp_rtol(product.dtype()) * std::fabs(p[i]);
  return tolerance;
}

// Equal values, NaN where NaN (the kernels that follow the CPU's arithmetic exactly).
inline ::testing::AssertionResult same_values(const Tensor& got, const Tensor& want,
                                              const std::string& what) {
  return close_to(got, want, 0.0, 0.0, what);
}

}  // namespace vramkit::test
