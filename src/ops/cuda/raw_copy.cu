// Raw strided copy on the GPU (ops/cuda/raw_copy_cuda.h).
// Algorithm: on the host, size-1 dimensions are dropped and adjacent dimensions merged where the source steps
// through them as one (the output is contiguous), so a contiguous source becomes one flat copy. Each thread
// then takes output elements in a grid-stride loop and finds its source offset by dividing the flat index by
// the merged sizes, innermost first.
// Precision: bit copies through unsigned integers of the element's size.
#include <string>

#include "backends/cuda/cuda_check.h"
#include "ops/cuda/kernel_util.cuh"
#include "ops/cuda/raw_copy_cuda.h"

namespace vramkit::cuda {
namespace {

constexpr unsigned kThreads = 256;
constexpr int kMaxRawCopyRank = 8;

struct RawGeometry {
  int rank;
  std::int64_t sizes[kMaxRawCopyRank];  // plain arrays: std::array is host-only in device code
  std::int64_t strides[kMaxRawCopyRank];
  std::int64_t count;
};

template <typename Element>
__global__ void __launch_bounds__(kThreads)
    raw_copy_kernel(const Element* __restrict__ src, Element* __restrict__ out, RawGeometry g) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < g.count;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    std::int64_t rest = i, offset = 0;
    for (int d = g.rank - 1; d >= 0; --d) {
      offset += (rest % g.sizes[d]) * g.strides[d];
      rest /= g.sizes[d];
    }
    out[i] = src[offset];
  }
}

RawGeometry collapse(const std::vector<std::int64_t>& strides, const std::vector<std::int64_t>& out_shape) {
  if (strides.size() != out_shape.size())
    throw ShapeError("cuda raw copy: " + std::to_string(strides.size()) + " strides for an output of rank " +
                     std::to_string(out_shape.size()));
  RawGeometry g{0, {}, {}, 1};
  for (std::size_t d = 0; d < out_shape.size(); ++d) {
    if (out_shape[d] < 0) throw ShapeError("cuda raw copy: negative output dimension " + std::to_string(d));
    g.count *= out_shape[d];
    if (out_shape[d] == 1) continue;
    if (g.rank > 0 && g.strides[g.rank - 1] == strides[d] * out_shape[d]) {
      g.sizes[g.rank - 1] *= out_shape[d];
      g.strides[g.rank - 1] = strides[d];
      continue;
    }
    if (g.rank == kMaxRawCopyRank)
      throw ShapeError("cuda raw copy: more than " + std::to_string(kMaxRawCopyRank) + " dimensions");
    g.sizes[g.rank] = out_shape[d];
    g.strides[g.rank] = strides[d];
    ++g.rank;
  }
  return g;
}

template <typename Element>
void launch_typed(const void* src, void* out, const RawGeometry& g, cudaStream_t stream) {
  raw_copy_kernel<Element><<<grid_blocks(g.count, kThreads, 8192), kThreads, 0, stream>>>(
      static_cast<const Element*>(src), static_cast<Element*>(out), g);
  VRAMKIT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void launch_raw_copy(const void* src, std::size_t element_size, const std::vector<std::int64_t>& strides,
                     void* out, const std::vector<std::int64_t>& out_shape, cudaStream_t stream) {
  const RawGeometry g = collapse(strides, out_shape);
  if (element_size != 1 && element_size != 2 && element_size != 4 && element_size != 8)
    throw ArgumentError("cuda raw copy: element size " + std::to_string(element_size) +
                        " is not supported (1, 2, 4 or 8 bytes)");
  if (g.count == 0) return;
  switch (element_size) {
    case 1:
      return launch_typed<std::uint8_t>(src, out, g, stream);
    case 2:
      return launch_typed<std::uint16_t>(src, out, g, stream);
    case 4:
      return launch_typed<std::uint32_t>(src, out, g, stream);
    default:
      return launch_typed<std::uint64_t>(src, out, g, stream);
  }
}

}  // namespace vramkit::cuda
