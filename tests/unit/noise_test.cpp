// The seeded noise: Philox4x32-10 against the published known-answer vectors, and the Gaussian values'
// determinism, independence from the shape, and moments.
#include "pipeline/noise.h"

#include <gtest/gtest.h>

#include <cmath>

namespace vramkit {
namespace {

// Known-answer vectors of the Random123 distribution (kat_vectors: philox4x32 10 rounds).
TEST(Philox, MatchesTheKnownAnswerVectors) {
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (std::array<std::uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  EXPECT_EQ(philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}),
            (std::array<std::uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  EXPECT_EQ(philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}),
            (std::array<std::uint32_t, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(GaussianNoise, SameSeedSameValuesWhateverTheShape) {
  const std::vector<float> a = gaussian_noise({1, 16, 10, 7}, 42).to_floats();
  EXPECT_EQ(a, gaussian_noise({1, 16, 10, 7}, 42).to_floats());
  EXPECT_EQ(a, gaussian_noise({1120}, 42).to_floats());
  // A prefix of a longer draw: element i depends on (seed, i) only.
  const std::vector<float> longer = gaussian_noise({1123}, 42).to_floats();
  EXPECT_TRUE(std::equal(a.begin(), a.end(), longer.begin()));
  EXPECT_NE(a, gaussian_noise({1120}, 43).to_floats());
  EXPECT_NE(a, gaussian_noise({1120}, 42ull + (1ull << 32)).to_floats());  // the seed's high half counts
}

TEST(GaussianNoise, MomentsOfAStandardNormal) {
  const std::vector<float> x = gaussian_noise({1 << 20}, 7).to_floats();
  double sum = 0, sum2 = 0, sum4 = 0;
  std::size_t beyond_3 = 0;
  for (const float v : x) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v, sum2 += static_cast<double>(v) * v, sum4 += std::pow(static_cast<double>(v), 4);
    beyond_3 += std::abs(v) > 3;
  }
  const double n = static_cast<double>(x.size());
  // Standard errors at n = 2^20: mean 0.001, variance 0.0014, fourth moment 0.0094.
  EXPECT_NEAR(sum / n, 0.0, 0.005);
  EXPECT_NEAR(sum2 / n, 1.0, 0.007);
  EXPECT_NEAR(sum4 / n, 3.0, 0.05);
  EXPECT_NEAR(static_cast<double>(beyond_3) / n, 0.0027, 0.0003);
}

}  // namespace
}  // namespace vramkit
