#include "pipeline/noise.h"

#include <cmath>
#include <numbers>

namespace vramkit {

std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> c, std::array<std::uint32_t, 2> k) {
  constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;  // the round multipliers
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;  // the key schedule's increments
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t{kMul0} * c[0], p1 = std::uint64_t{kMul1} * c[2];
    const auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    k[0] += kWeyl0;
    k[1] += kWeyl1;
  }
  return c;
}

Tensor gaussian_noise(const Shape& shape, std::uint64_t seed) {
  Tensor out = Tensor::empty(shape, DType::f32);
  float* o = out.data_as<float>();
  const auto n = static_cast<std::uint64_t>(out.numel());
  const std::array<std::uint32_t, 2> key{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  // A uniform in (0, 1): never 0, so the logarithm is finite.
  const auto uniform = [](std::uint32_t x) { return (static_cast<double>(x) + 0.5) * 0x1p-32; };
#pragma omp parallel for schedule(static)
  for (std::int64_t block = 0; block < static_cast<std::int64_t>((n + 3) / 4); ++block) {
    const auto b = static_cast<std::uint64_t>(block);
    const auto r = philox4x32_10({static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(b >> 32), 0, 0}, key);
    for (int pair = 0; pair < 2; ++pair) {
      const double radius = std::sqrt(-2.0 * std::log(uniform(r[2 * pair])));
      const double angle = 2.0 * std::numbers::pi * uniform(r[2 * pair + 1]);
      const std::uint64_t i = 4 * b + 2 * static_cast<std::uint64_t>(pair);
      if (i < n) o[i] = static_cast<float>(radius * std::cos(angle));
      if (i + 1 < n) o[i + 1] = static_cast<float>(radius * std::sin(angle));
    }
  }
  return out;
}

}  // namespace vramkit
