// Seeded Gaussian noise that is the same on every machine and in every memory mode: Philox4x32-10 (the
// counter-based generator of Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) keyed by
// the seed, one counter per 4 values, and the Box-Muller transform in double precision. Element i depends
// only on (seed, i), so any shape and any thread split give the same values.
#pragma once

#include <array>
#include <cstdint>

#include "core/tensor.h"

namespace vramkit {

// One Philox4x32-10 block: 10 rounds of the bijection on `counter` under `key`.
std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter, std::array<std::uint32_t, 2> key);

// Standard normal values, f32, contiguous, in row-major order of `shape`.
Tensor gaussian_noise(const Shape& shape, std::uint64_t seed);

}  // namespace vramkit
