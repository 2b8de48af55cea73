// The one entry point to OpenBLAS for the CPU kernels: a row-major single-precision GEMM
// C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C, op(X) = X or Xᵀ.
//
// OpenBLAS (pthread build) threads each call itself, so gemm_f32 must be called from one thread and never
// inside an OpenMP parallel region (two thread pools would fight for the same cores).
#pragma once

#include <cstdint>
#include <span>

namespace vramkit::ops::cpu {

// A row-major f32 matrix operand as BLAS sees it: `ld` is the distance in elements between consecutive rows
// of the stored matrix (the stored matrix is op(X)ᵀ when `transposed`).
struct GemmOperand {
  const float* data;
  std::int64_t ld;
  bool transposed;
};

// Handles the degenerate sizes BLAS rejects or treats loosely: nothing to do when m or n is 0, and C = beta ·
// C when k is 0.
void gemm_f32(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, GemmOperand a, GemmOperand b,
              float beta, float* c, std::int64_t ldc);

// Batched form: for each i, C_i = op(A_i) · op(B_i) with A_i at a.data + a_offsets[i] (likewise B_i) and C_i
// the contiguous m x n block c + i · m · n. One gemm_f32 call per batch entry.
void batched_gemm_f32(std::span<const std::int64_t> a_offsets, std::span<const std::int64_t> b_offsets,
                      std::int64_t m, std::int64_t n, std::int64_t k, GemmOperand a, GemmOperand b, float* c);

}  // namespace vramkit::ops::cpu
