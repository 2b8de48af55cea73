// The bounds on the device memory an op takes beside its result, shared by the CUDA launchers (compiled as
// C++17 by nvcc: this header stays free of the C++20 ones) and the workspace estimates that price them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace vramkit::ops {

// The most scratch a device op takes beside its result (attention's score block on the GEMM path, conv2d's
// unfolded input): an op splits its work into pieces that fit, and the piece sizes depend on the shapes
// alone, never on the memory left, so that every memory mode runs the same GEMMs on the same shapes (same
// bits). The workspace estimates (models/activation_meter.h, the VAE's tiling) price this bound.
inline constexpr std::size_t kDeviceScratchBytes = std::size_t{64} << 20;

// The most device memory one library call (a cuBLASLt GEMM, a cuDNN attention) takes as its workspace: the
// GEMM heuristic is asked for algorithms within it, and cuDNN plans that need more are refused (our own
// kernel runs those). The workspace comes from the device arena for the call's duration, beside the op's
// scratch.
inline constexpr std::size_t kLibraryWorkspaceBytes = std::size_t{32} << 20;  // NVIDIA's advice for Hopper

// The rows of the native fp8 linear's f32 sums a device holds at a time (rows x out f32 within
// `scratch_bytes`, at least one row, at most `rows`).
inline std::int64_t fp8_accumulator_rows(std::int64_t rows, std::int64_t out,
                                         std::size_t scratch_bytes = kDeviceScratchBytes) {
  const auto fit = static_cast<std::int64_t>(scratch_bytes / (sizeof(float) * static_cast<std::size_t>(out)));
  return std::max<std::int64_t>(1, std::min(rows, fit));
}

}  // namespace vramkit::ops
