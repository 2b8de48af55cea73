// Launcher of the embedding lookup on the GPU (contract of ops/embedding.h: rows of a table copied bit for
// bit by i32 / i64 ids).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"

namespace vramkit::cuda {

struct EmbeddingTable {
  const void* data;   // device memory
  DType dtype;        // any dtype of 1, 2 or 4 bytes (f32, bf16, f16, fp8, ...): rows are copied, not decoded
  std::int64_t rows;  // V, the vocabulary
  std::int64_t cols;  // D
  std::int64_t row_stride;  // elements between rows, >= cols
};

// out[i, :] = table[ids[i], :] for i < count; ids (device memory) i32 or i64, out [count, cols] contiguous of
// the table's dtype. A device cannot throw: a row whose id lies outside [0, V) is written as zero bytes and,
// when first_bad is not null, the smallest such position i is stored there by atomicMin — the caller
// initializes *first_bad to a value >= count and, after synchronizing, turns a smaller value into an
// ArgumentError naming the id (ops/embedding.cpp's message). Throws DTypeError for other id or table dtypes,
// ArgumentError for bad sizes, CudaError when the launch fails.
void launch_embedding(const EmbeddingTable& table, const void* ids, DType id_dtype, std::int64_t count,
                      void* out, std::int64_t* first_bad, cudaStream_t stream);

}  // namespace vramkit::cuda
