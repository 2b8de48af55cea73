// Launcher of the raw strided copy on the GPU: elements of any dtype moved bit for bit (no decoding) from a
// strided view into a contiguous buffer. The equal-dtype copies that launch_copy (f32 / bf16 / f16 only)
// does not take: u8 / bool masks, i32 / i64 ids, fp8 weights.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vramkit::cuda {

// out (contiguous `out_shape`, device memory) = the elements of `element_size` bytes (1, 2, 4 or 8) at
// src[Σ i_d · strides[d]] (strides in elements, one per output dimension, 0 included: broadcast reads).
// out must not overlap src. Throws ArgumentError for another element size, ShapeError for a stride count
// other than out_shape's rank, a negative size or a rank above 8, CudaError when the launch fails.
void launch_raw_copy(const void* src, std::size_t element_size, const std::vector<std::int64_t>& strides,
                     void* out, const std::vector<std::int64_t>& out_shape, cudaStream_t stream);

}  // namespace vramkit::cuda
