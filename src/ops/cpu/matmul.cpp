// CPU matrix products: thin wrappers over OpenBLAS cblas_sgemm (row-major), which threads each call itself.
// Precision: f32 inputs, f32 accumulation (OpenBLAS's own blocking and summation order).
#include "ops/cpu/matmul.h"

#include <cblas.h>

#include <climits>
#include <string>

#include "vramkit/error.h"

namespace vramkit::ops::cpu {
namespace {

// OpenBLAS's CBLAS interface takes int (blasint) sizes.
blasint blas_int(std::int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX)
    throw ArgumentError("gemm_f32: " + std::string(what) + " = " + std::to_string(v) +
                        " does not fit a BLAS int");
  return static_cast<blasint>(v);
}

}  // namespace

void gemm_f32(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, GemmOperand a, GemmOperand b,
              float beta, float* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  cblas_sgemm(CblasRowMajor, a.transposed ? CblasTrans : CblasNoTrans,
              b.transposed ? CblasTrans : CblasNoTrans, blas_int(m, "m"), blas_int(n, "n"), blas_int(k, "k"),
              alpha, a.data, blas_int(a.ld, "lda"), b.data, blas_int(b.ld, "ldb"), beta, c,
              blas_int(ldc, "ldc"));
}

void batched_gemm_f32(std::span<const std::int64_t> a_offsets, std::span<const std::int64_t> b_offsets,
                      std::int64_t m, std::int64_t n, std::int64_t k, GemmOperand a, GemmOperand b,
                      float* c) {
  for (std::size_t i = 0; i < a_offsets.size(); ++i)
    gemm_f32(m, n, k, 1.0f, {a.data + a_offsets[i], a.ld, a.transposed},
             {b.data + b_offsets[i], b.ld, b.transposed}, 0.0f, c + static_cast<std::int64_t>(i) * m * n, n);
}

}  // namespace vramkit::ops::cpu
