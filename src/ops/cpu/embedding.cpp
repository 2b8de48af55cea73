// Embedding gather: one row copy per index (memcpy for rows with unit stride, a strided element copy
// otherwise), OpenMP over indices. Exact: the bytes are copied, never converted.
#include "ops/cpu/embedding.h"

#include "core/convert.h"

namespace vramkit::ops::cpu {

void gather_rows(const void* table, DType dtype, std::int64_t row_stride, std::int64_t col_stride,
                 std::int64_t cols, const std::int64_t* rows, std::int64_t count, void* out) {
  const auto esize = static_cast<std::int64_t>(dtype_size(dtype));
  const auto* src = static_cast<const char*>(table);
  auto* dst = static_cast<char*>(out);
#pragma omp parallel for schedule(static) if (count * cols >= (1 << 15))
  for (std::int64_t i = 0; i < count; ++i)
    convert_strided(src + rows[i] * row_stride * esize, dtype, col_stride, dst + i * cols * esize, dtype, 1,
                    static_cast<std::size_t>(cols));
}

}  // namespace vramkit::ops::cpu
