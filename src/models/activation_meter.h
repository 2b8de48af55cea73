// Counts the activation bytes a model's forward keeps alive at its peak, for the workspace the VRAM planner
// reserves (ModelOptions::workspace_bytes). A model's meter walks its forward step by step, as the code runs
// it, and reports at each step the sum of the tensors alive then; the meter keeps the largest.
//
// The costs of the ops follow the kernels that run them (OpKernels):
//   - the CPU kernels (src/ops/cpu; the host, and the emulated device, whose ops are those kernels on arena
//     memory): an op computes in f32, so it converts an input that is not already contiguous f32 into an f32
//     copy, writes an f32 result, and rounds that into a new tensor of the activation dtype unless the
//     activations are f32. Attention is blocked: it holds one block of scores, never the L x L matrix.
//   - a device's (ops::DeviceOps, src/ops/cuda/cuda_device_ops.cpp): an op allocates its result in the
//     activation dtype, a contiguous copy of an input that is strided, and beside a GEMM or a cuDNN attention
//     the library's workspace (ops::kLibraryWorkspaceBytes at most). The weights a linear gets from the VRAM
//     manager are already in the computation dtype (the staging upcast), so they are never copied.
// On both, elementwise ops (modulate, gated residual, add, GELU...) only allocate their result.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/dtype.h"
#include "ops/cpu/linear.h"
#include "ops/device_scratch.h"

namespace vramkit {

class ManagedModel;

// The kernels that run the forward a meter prices.
struct OpKernels {
  // A device's ops (ops::DeviceOps: CUDA) rather than the CPU kernels (the host, the emulated device).
  bool device = false;
  // The linears may run as ops::fp8_linear (ManagerOptions::native_fp8_gemm).
  bool native_fp8_gemm = false;
};

// The kernels `model`'s forward runs (ManagedModel::device_kernels, native_fp8_gemm).
OpKernels op_kernels_of(const ManagedModel& model);

class ActivationMeter {
 public:
  explicit ActivationMeter(DType dtype, OpKernels kernels = {})
      : element_(dtype_size(dtype)), f32_(dtype == DType::f32), kernels_(kernels) {}

  std::uint64_t peak() const { return peak_; }
  // Records that `live_bytes` are alive at one step.
  void at(std::uint64_t live_bytes) { peak_ = std::max(peak_, live_bytes); }

  // Bytes of n elements in the activation dtype, and in f32.
  std::uint64_t act(std::int64_t n) const { return static_cast<std::uint64_t>(n) * element_; }
  static std::uint64_t f32(std::int64_t n) { return static_cast<std::uint64_t>(n) * 4; }

  // The bytes an f32-computing op (norm, RoPE) allocates beyond its input while it runs, for an input of `in`
  // and a result of `out` elements. CPU: the f32 copy of the input (none when it already is contiguous f32),
  // the f32 result, and the result rounded to the activation dtype. Device: the result, and the contiguous
  // copy of a strided input. The result (act(out)) is among them.
  std::uint64_t f32_op(std::int64_t in, std::int64_t out, bool input_contiguous = true) const {
    if (kernels_.device) return act(out) + (input_contiguous ? 0 : act(in));
    const std::uint64_t copy = f32_ && input_contiguous ? 0 : f32(in);
    return copy + f32(out) + (f32_ ? 0 : act(out));
  }
  // ops::linear of `rows` x `in` -> `rows` x `out`, weights in the activation dtype (the VRAM manager hands
  // them over in the computation dtype). CPU: f32_op's, except that for narrow weights the kernel first
  // widens a tile of weight rows into an f32 buffer (ops/cpu/linear.cpp), freed before the result is rounded,
  // and copies the bias to f32. Device: the result, the copy of a strided input and of a bias in another
  // dtype, the GEMM's workspace. With native_fp8_gemm, the larger of that and fp8_linear's cost.
  std::uint64_t linear(std::int64_t rows, std::int64_t in, std::int64_t out,
                       bool input_contiguous = true) const {
    const std::uint64_t plain = kernels_.device ? device_linear(rows, in, out, input_contiguous)
                                                : cpu_linear(rows, in, out, input_contiguous);
    if (!kernels_.native_fp8_gemm) return plain;
    const auto codes = static_cast<std::uint64_t>(rows * in);
    if (!kernels_.device) {
      // ops/cpu/fp8_linear.cpp: x's contiguous copy, its fp8 codes, their f32 values, then linear's f32
      // result, bias and weight tile.
      const std::uint64_t widen = f32(std::min(ops::cpu::linear_tile_rows(in), out) * in);
      return std::max(plain, codes + f32(rows * in) + f32(rows * out) + f32(out) +
                                 std::max(widen, act(rows * out)) + act(rows * in));
    }
    // CudaDeviceOps::fp8_linear: the result, the fp8 codes of x, a scale per row and per channel, the bias
    // copy, the f32 sums of a block of rows and the GEMM's workspace; or, where cuBLASLt has no fp8 GEMM, the
    // same but the sums, while linear's fallback runs beside them with the weight dequantized into x's dtype.
    const std::uint64_t held =
        act(rows * out) + codes + f32(rows) + f32(out) + act(out) + (input_contiguous ? 0 : act(rows * in));
    const std::uint64_t native =
        held + f32(ops::fp8_accumulator_rows(rows, out) * out) + ops::kLibraryWorkspaceBytes;
    const std::uint64_t fallback = held + act(out * in) + device_linear(rows, in, out, input_contiguous);
    return std::max(native, fallback);
  }
  // The score block of the CPU attention kernel (ops/cpu/attention.cpp): 256 queries x 512 keys at most, in
  // f32, and two f32 row vectors.
  static std::uint64_t cpu_score_block(std::int64_t q_len, std::int64_t kv_len) {
    const std::int64_t q_block = std::min<std::int64_t>(256, q_len),
                       key_block = std::min<std::int64_t>(512, kv_len);
    return f32(q_block * key_block + 2 * q_block);
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
  // keys of kv_width (q, k, v contiguous):
  //   CPU: the f32 copies of q, k and v, the output as f32_op's, the score block (256 queries x 512 keys at
  //   most, and two row vectors);
  //   device (CudaDeviceOps::attention), the largest of the paths a request may take: cuDNN (bf16 / f16,
  //   head_dim a multiple of 8 up to 128) with the result, the key mask's bias in the activation dtype and
  //   the first valid key per sequence, and its workspace; our fused kernel (bf16 / f16, head_dim 64 / 128)
  //   with the result alone; else the GEMM path: the result, head-major f32 copies of q, k, v and the output,
  //   its score block (device_score_block) and its GEMMs' workspace;
  // plus, with a key mask, its byte-per-key copy.
  std::uint64_t attention(std::int64_t batch, std::int64_t q_len, std::int64_t kv_len, std::int64_t q_width,
                          std::int64_t kv_width, std::int64_t head_dim, bool masked) const {
    const std::int64_t q = batch * q_len * q_width, kv = batch * kv_len * kv_width;
    const std::uint64_t mask = masked ? static_cast<std::uint64_t>(batch * kv_len) : 0;
    if (!kernels_.device) {
      const std::uint64_t copies = f32_ ? 0 : f32(q) + 2 * f32(kv);
      return copies + f32(q) + (f32_ ? 0 : act(q)) + cpu_score_block(q_len, kv_len) + mask;
    }
    const bool cudnn = !f32_ && head_dim % 8 == 0 && head_dim <= 128;
    const bool fused = !f32_ && (head_dim == 64 || head_dim == 128);
    const std::uint64_t by_cudnn =
        cudnn ? act(q) + (masked ? act(batch * kv_len) + f32(batch) : 0) + ops::kLibraryWorkspaceBytes : 0;
    const std::uint64_t other = fused ? act(q)
                                      : act(q) + 2 * f32(q) + 2 * f32(kv) +
                                            device_score_block(q_len, kv_len) + ops::kLibraryWorkspaceBytes;
    return std::max(by_cudnn, other) + mask;
  }

 private:
  std::uint64_t cpu_linear(std::int64_t rows, std::int64_t in, std::int64_t out,
                           bool input_contiguous) const {
    if (f32_) return f32_op(rows * in, rows * out, input_contiguous);
    const std::uint64_t widen = f32(std::min(ops::cpu::linear_tile_rows(in), out) * in);
    return f32(rows * in) + f32(rows * out) + f32(out) + std::max(widen, act(rows * out));
  }
  std::uint64_t device_linear(std::int64_t rows, std::int64_t in, std::int64_t out,
                              bool input_contiguous) const {
    return act(rows * out) + (input_contiguous ? 0 : act(rows * in)) + act(out) + ops::kLibraryWorkspaceBytes;
  }

  std::uint64_t element_;
  bool f32_;
  OpKernels kernels_;
  std::uint64_t peak_ = 0;
};

}  // namespace vramkit
