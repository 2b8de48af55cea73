// CPU strided copy.
//
// Algorithm: drop size-1 dims and merge neighbouring dims that are contiguous with each other in both layouts
// (a contiguous copy becomes one memcpy row, a permute keeps only the dims it really reorders), then walk the
// rows of the last dim with an odometer; rows with unit steps on both sides are memcpy'd, others copied
// element by element by element size. Threads: OpenMP over row ranges (each thread decomposes its first row
// index once) when the copy is at least 1 MiB. No arithmetic: results are bit-exact.
#include "ops/cpu/layout.h"

#include <omp.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace vramkit::ops::cpu {
namespace {

constexpr std::size_t kParallelBytes = std::size_t{1} << 20;

struct Layout {
  int rank = 0;
  std::array<std::int64_t, kMaxRank> size{}, src{}, dst{};
};

Layout coalesce(const Shape& shape, const Shape& src_strides, const Shape& dst_strides) {
  Layout l;
  for (int d = 0; d < shape.rank(); ++d) {
    if (shape[d] == 1) continue;
    if (l.rank > 0) {
      const auto p = static_cast<std::size_t>(l.rank - 1);
      if (l.src[p] == src_strides[d] * shape[d] && l.dst[p] == dst_strides[d] * shape[d]) {
        l.size[p] *= shape[d];
        l.src[p] = src_strides[d];
        l.dst[p] = dst_strides[d];
        continue;
      }
    }
    const auto n = static_cast<std::size_t>(l.rank++);
    l.size[n] = shape[d];
    l.src[n] = src_strides[d];
    l.dst[n] = dst_strides[d];
  }
  if (l.rank == 0) {  // a single element
    l.rank = 1;
    l.size[0] = 1;
    l.src[0] = l.dst[0] = 1;
  }
  return l;
}

template <typename T>
void copy_row(const std::byte* src, std::int64_t src_step, std::byte* dst, std::int64_t dst_step,
              std::int64_t n) {
  const T* s = reinterpret_cast<const T*>(src);
  T* d = reinterpret_cast<T*>(dst);
  for (std::int64_t i = 0; i < n; ++i) std::memcpy(d + i * dst_step, s + i * src_step, sizeof(T));
}

void copy_row_any(const std::byte* src, std::int64_t src_step, std::byte* dst, std::int64_t dst_step,
                  std::int64_t n, std::size_t es) {
  if (src_step == 1 && dst_step == 1) {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * es);
    return;
  }
  switch (es) {
    case 1:
      copy_row<std::uint8_t>(src, src_step, dst, dst_step, n);
      return;
    case 2:
      copy_row<std::uint16_t>(src, src_step, dst, dst_step, n);
      return;
    case 4:
      copy_row<std::uint32_t>(src, src_step, dst, dst_step, n);
      return;
    default:
      for (std::int64_t i = 0; i < n; ++i)
        std::memcpy(dst + static_cast<std::size_t>(i * dst_step) * es,
                    src + static_cast<std::size_t>(i * src_step) * es, es);
  }
}

// Copies rows [first, last) of the coalesced layout (a row = all of the last dim).
void copy_rows(const std::byte* src, std::byte* dst, const Layout& l, std::size_t es, std::int64_t first,
               std::int64_t last) {
  const int outer = l.rank - 1;
  std::array<std::int64_t, kMaxRank> idx{};
  std::int64_t s = 0, d = 0, rem = first;
  for (int k = outer - 1; k >= 0; --k) {
    const auto u = static_cast<std::size_t>(k);
    idx[u] = rem % l.size[u];
    rem /= l.size[u];
    s += idx[u] * l.src[u];
    d += idx[u] * l.dst[u];
  }
  const auto last_dim = static_cast<std::size_t>(outer);
  for (std::int64_t row = first; row < last; ++row) {
    copy_row_any(src + static_cast<std::size_t>(s) * es, l.src[last_dim],
                 dst + static_cast<std::size_t>(d) * es, l.dst[last_dim], l.size[last_dim], es);
    for (int k = outer - 1; k >= 0; --k) {
      const auto u = static_cast<std::size_t>(k);
      s += l.src[u];
      d += l.dst[u];
      if (++idx[u] < l.size[u]) break;
      s -= l.src[u] * l.size[u];
      d -= l.dst[u] * l.size[u];
      idx[u] = 0;
    }
  }
}

}  // namespace

void copy_strided(const void* src, const Shape& src_strides, void* dst, const Shape& dst_strides,
                  const Shape& shape, std::size_t elem_size) {
  if (shape.numel() == 0) return;
  const Layout l = coalesce(shape, src_strides, dst_strides);
  const std::int64_t rows = shape.numel() / l.size[static_cast<std::size_t>(l.rank - 1)];
  const auto* s = static_cast<const std::byte*>(src);
  auto* d = static_cast<std::byte*>(dst);
  const bool parallel = static_cast<std::size_t>(shape.numel()) * elem_size >= kParallelBytes && rows > 1;
#pragma omp parallel if (parallel)
  {
    const std::int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    copy_rows(s, d, l, elem_size, rows * t / threads, rows * (t + 1) / threads);
  }
}

}  // namespace vramkit::ops::cpu
