// Embedding lookup on the GPU: a gather of table rows.
// Algorithm: each thread copies one element (of the table's size: 1, 2 or 4 bytes) of one output row, after
// reading that row's id; an id out of range writes zeros and records the row's position.
// Thread mapping: blockIdx.y walks output rows (grid-stride), the x dimension walks the columns, so a warp
// copies 32 consecutive elements of one table row.
// Precision: bit copies. Reference: ops/cpu/embedding.cpp (gather_rows).
#include <algorithm>
#include <cstdint>
#include <string>

#include "backends/cuda/cuda_check.h"
#include "ops/cuda/embedding_cuda.h"
#include "ops/cuda/kernel_util.cuh"

namespace vramkit::cuda {
namespace {

constexpr unsigned kThreads = 256;

template <typename Element, typename Id>
__global__ void __launch_bounds__(kThreads)
    embedding_kernel(const Element* __restrict__ table, std::int64_t rows, std::int64_t cols,
                     std::int64_t row_stride, const Id* __restrict__ ids, std::int64_t count,
                     Element* __restrict__ out, std::int64_t* first_bad) {
  for (std::int64_t i = blockIdx.y; i < count; i += gridDim.y) {
    const auto id = static_cast<std::int64_t>(ids[i]);
    const bool valid = id >= 0 && id < rows;
    if (!valid && first_bad && blockIdx.x == 0 && threadIdx.x == 0)
      atomicMin(reinterpret_cast<long long*>(first_bad), static_cast<long long>(i));
    const Element* src = table + (valid ? id : 0) * row_stride;
    for (std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < cols;
         c += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
      out[i * cols + c] = valid ? src[c] : Element{0};
  }
}

template <typename Element>
void launch_with_ids(const EmbeddingTable& t, const void* ids, DType id_dtype, std::int64_t count, void* out,
                     std::int64_t* first_bad, cudaStream_t stream) {
  const dim3 grid(grid_blocks(t.cols, kThreads, 64),
                  static_cast<unsigned>(std::min<std::int64_t>(count, 65535)));
  const auto* table = static_cast<const Element*>(t.data);
  auto* dst = static_cast<Element*>(out);
  if (id_dtype == DType::i64)
    embedding_kernel<<<grid, kThreads, 0, stream>>>(
        table, t.rows, t.cols, t.row_stride, static_cast<const std::int64_t*>(ids), count, dst, first_bad);
  else
    embedding_kernel<<<grid, kThreads, 0, stream>>>(
        table, t.rows, t.cols, t.row_stride, static_cast<const std::int32_t*>(ids), count, dst, first_bad);
  VRAMKIT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void launch_embedding(const EmbeddingTable& table, const void* ids, DType id_dtype, std::int64_t count,
                      void* out, std::int64_t* first_bad, cudaStream_t stream) {
  if (id_dtype != DType::i32 && id_dtype != DType::i64)
    throw DTypeError("cuda embedding: ids dtype " + std::string(dtype_name(id_dtype)) + " is not i32 or i64");
  if (table.rows < 0 || table.cols < 0 || count < 0 || table.row_stride < table.cols)
    throw ArgumentError("cuda embedding: bad sizes (table rows " + std::to_string(table.rows) + ", cols " +
                        std::to_string(table.cols) + ", row_stride " + std::to_string(table.row_stride) +
                        ", count " + std::to_string(count) + ")");
  const std::size_t element = dtype_size(table.dtype);
  if (element != 1 && element != 2 && element != 4)
    throw DTypeError("cuda embedding: table dtype " + std::string(dtype_name(table.dtype)) +
                     " is not 1, 2 or 4 bytes wide");
  if (count == 0 || table.cols == 0) return;
  switch (element) {
    case 1:
      return launch_with_ids<std::uint8_t>(table, ids, id_dtype, count, out, first_bad, stream);
    case 2:
      return launch_with_ids<std::uint16_t>(table, ids, id_dtype, count, out, first_bad, stream);
    default:
      return launch_with_ids<std::uint32_t>(table, ids, id_dtype, count, out, first_bad, stream);
  }
}

}  // namespace vramkit::cuda
