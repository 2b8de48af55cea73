// Raw CPU RoPE kernel on contiguous f32 buffers (contract in ops/rope.h).
#pragma once

#include <cstdint>

namespace vramkit::ops::cpu {

// x and out [B, L, H, D] contiguous f32 (out may not alias x); cos/sin [L, D/2] when table_per_batch is
// false, else [B, L, D/2]. interleaved selects the (2j, 2j+1) pairing, otherwise (j, j + D/2).
void rope_f32(const float* x, float* out, std::int64_t batch, std::int64_t len, std::int64_t heads,
              std::int64_t head_dim, const float* cos, const float* sin, bool table_per_batch,
              bool interleaved);

// cos/sin [n, pairs] of the angle f32(positions[i·axes + pair_axis[j]])·omega[j] (rounded to f32): token i
// has one position per axis, and pair j rotates with the position of axis pair_axis[j].
void rope_angles_f32(const std::int64_t* positions, std::int64_t n, int axes, const int* pair_axis,
                     const float* omega, std::int64_t pairs, float* cos, float* sin);

}  // namespace vramkit::ops::cpu
