// Counts the activation bytes a model's forward keeps alive at its peak, for the workspace the VRAM planner
// reserves (ModelOptions::workspace_bytes). A model's meter walks its forward step by step, as the code runs it,
// and reports at each step the sum of the tensors alive then; the meter keeps the largest.
//
// The costs of the ops follow the CPU kernels (src/ops): an op computes in f32, so it converts an input that is
// not already contiguous f32 into an f32 copy, writes an f32 result, and rounds that into a new tensor of the
// activation dtype unless the activations are f32; elementwise ops (modulate, gated residual, add, GELU...) only
// allocate their result. Attention is blocked: it holds one block of scores, never the L x L matrix.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/dtype.h"
#include "ops/cpu/linear.h"
#include "ops/device_ops.h"

namespace vramkit {

class ActivationMeter {
 public:
  // native_fp8_gemm: the run's linears may be ops::fp8_linear (ManagerOptions::native_fp8_gemm).
  explicit ActivationMeter(DType dtype, bool native_fp8_gemm = false)
      : element_(dtype_size(dtype)), f32_(dtype == DType::f32), native_fp8_gemm_(native_fp8_gemm) {}

  std::uint64_t peak() const { return peak_; }
  // Records that `live_bytes` are alive at one step.
  void at(std::uint64_t live_bytes) { peak_ = std::max(peak_, live_bytes); }

  // Bytes of n elements in the activation dtype, and in f32.
  std::uint64_t act(std::int64_t n) const { return static_cast<std::uint64_t>(n) * element_; }
  static std::uint64_t f32(std::int64_t n) { return static_cast<std::uint64_t>(n) * 4; }

  // The bytes an f32-computing op (linear, norm, RoPE) allocates beyond its input while it runs, for an input
  // of `in` and a result of `out` elements: the f32 copy of the input (none when it already is contiguous f32),
  // the f32 result, and the result rounded to the activation dtype. Its result (act(out)) is among them.
  std::uint64_t f32_op(std::int64_t in, std::int64_t out, bool input_contiguous = true) const {
    const std::uint64_t copy = f32_ && input_contiguous ? 0 : f32(in);
    return copy + f32(out) + (f32_ ? 0 : act(out));
  }
  // ops::linear of `rows` x `in` -> `rows` x `out` with weights in the activation dtype (the VRAM manager
  // hands them over in the computation dtype): f32_op's, except that for narrow weights the kernel first
  // widens a tile of weight rows into an f32 buffer (ops/cpu/linear.cpp), freed before the result is rounded,
  // and copies the bias to f32. With native_fp8_gemm, the larger of that and fp8_linear's cost.
  std::uint64_t linear(std::int64_t rows, std::int64_t in, std::int64_t out,
                       bool input_contiguous = true) const {
    const std::uint64_t widen = f32(std::min(ops::cpu::linear_tile_rows(in), out) * in);
    const std::uint64_t plain =
        f32_ ? f32_op(rows * in, rows * out, input_contiguous)
             : f32(rows * in) + f32(rows * out) + f32(out) + std::max(widen, act(rows * out));
    if (!native_fp8_gemm_) return plain;
    // ops::fp8_linear, the largest of: the CPU kernel (ops/cpu/fp8_linear.cpp: x's contiguous copy, its fp8
    // codes, their f32 values, then linear's f32 result, bias and weight tile); the CUDA kernel (the fp8
    // codes of x, a scale per row and per channel, the f32 sums of a block of rows, the result); its CUDA
    // fallback (the same scratch but the sums, then the weight dequantized to the activation dtype and the
    // result).
    const auto codes = static_cast<std::uint64_t>(rows * in);
    const std::uint64_t cpu = codes + f32(rows * in) + f32(rows * out) + f32(out) +
                              std::max(widen, act(rows * out)) + act(rows * in);
    const std::uint64_t cuda =
        codes + f32(rows) + f32(out) + f32(ops::fp8_accumulator_rows(rows, out) * out) + act(rows * out);
    const std::uint64_t fallback = codes + f32(rows) + f32(out) + act(out * in) + act(rows * out);
    return std::max({plain, cpu, cuda, fallback});
  }
  // The f32 score block [rows, kv_len] of the GEMM-path attention on a device: as many query rows as fit in
  // ops::kDeviceScratchBytes, at least one, at most q_len.
  static std::uint64_t device_score_block(std::int64_t q_len, std::int64_t kv_len) {
    const auto row = std::max<std::int64_t>(static_cast<std::int64_t>(f32(kv_len)), 1);
    const std::int64_t rows = std::clamp<std::int64_t>(
        static_cast<std::int64_t>(ops::kDeviceScratchBytes) / row, 1, std::max<std::int64_t>(q_len, 1));
    return f32(rows * kv_len);
  }
  // ops::attention of `batch` sequences, q_len queries of q_width features (heads x head_dim) over kv_len
  // keys of kv_width, the larger of its two costs:
  //   the CPU kernel: the f32 copies of q, k and v, the output as f32_op's, the score block (256 queries x
  //   512 keys at most, and two row vectors);
  //   on a device: the result alone with the fused kernels (cuDNN, or ours for head_dim 64 / 128 in bf16 /
  //   f16); else (f32, or another head_dim where cuDNN is missing) the GEMM path (cuda_device_ops.cpp): the
  //   result, head-major f32 copies of q, k, v and the output, and its score block (device_score_block);
  // plus, with a key mask, its byte-per-key copy.
  std::uint64_t attention(std::int64_t batch, std::int64_t q_len, std::int64_t kv_len, std::int64_t q_width,
                          std::int64_t kv_width, std::int64_t head_dim, bool masked) const {
    const std::int64_t q = batch * q_len * q_width, kv = batch * kv_len * kv_width;
    const std::uint64_t copies = f32_ ? 0 : f32(q) + 2 * f32(kv);
    const std::int64_t q_block = std::min<std::int64_t>(256, q_len), key_block = std::min<std::int64_t>(512, kv_len);
    const std::uint64_t cpu = copies + f32(q) + (f32_ ? 0 : act(q)) + f32(q_block * key_block + 2 * q_block);
    const bool fused = !f32_ && (head_dim == 64 || head_dim == 128);
    const std::uint64_t device =
        fused ? act(q) : act(q) + 2 * f32(q) + 2 * f32(kv) + device_score_block(q_len, kv_len);
    const std::uint64_t mask = masked ? static_cast<std::uint64_t>(batch * kv_len) : 0;
    return std::max(cpu, device) + mask;
  }

 private:
  std::uint64_t element_;
  bool f32_;
  bool native_fp8_gemm_;
  std::uint64_t peak_ = 0;
};

}  // namespace vramkit
