// The CUDA ops at Qwen-Image shapes (7000 tokens: a 1328x1328 image is 83·83 = 6889 image tokens, plus the
// prompt), timed with CUDA events on one stream, each beside its ceiling measured in the same iteration:
//   linear (cuBLASLt GEMM, bf16 and f32): TFLOP/s = 2·rows·in·out / time;
//   the native fp8 linear (x's per-row quantization + cuBLASLt's fp8 GEMM with outer-vector scales, bf16
//   output): the same TFLOP/s, the time including the quantization;
//   attention (our fused kernels: tensor cores and the f32 reference; cuDNN's fused flash attention, without
//   and with a key mask; bf16, 24 heads x 128): TFLOP/s = 4·L²·D·H / time (the issue's
//   reference: torch SDPA 630 TFLOP/s on an H100; the ratio to the GEMM rate of the same run is the target);
//   rms_norm, modulate, the fused layer_norm + modulate and the fp8 -> bf16 weight upcast (memory-bound):
//   GB/s = bytes read + written / time, and of_copy = that rate over a device-to-device cudaMemcpyAsync
//   moving as many bytes (the practical HBM ceiling).
// Compiled only in CUDA builds; skipped with an error line when there is no device. Inputs are constant bytes
// (0x3c: about 0.0115 in bf16 and f32, normal numbers), which does not change the time of these kernels.
#ifdef VRAMKIT_HAS_CUDA

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_device.h"
#include "ops/cuda/attention_cuda.h"
#include "ops/cuda/attention_cudnn.h"
#include "ops/cuda/convert_cuda.h"
#include "ops/cuda/elementwise_cuda.h"
#include "ops/cuda/fp8_quantize_cuda.h"
#include "ops/cuda/gemm_cuda.h"
#include "ops/cuda/norm_cuda.h"
#include "ops/device_ops.h"

namespace vramkit {
namespace {

cuda::DeviceBuffer filled(std::size_t bytes) {
  cuda::DeviceBuffer b(bytes);
  VRAMKIT_CUDA_CHECK(cudaMemset(b.data(), 0x3c, bytes));
  return b;
}

// Times `launch` on the default stream with events; returns seconds.
template <typename Fn>
double timed(cudaEvent_t start, cudaEvent_t stop, Fn&& launch) {
  VRAMKIT_CUDA_CHECK(cudaEventRecord(start, nullptr));
  launch();
  VRAMKIT_CUDA_CHECK(cudaEventRecord(stop, nullptr));
  VRAMKIT_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  VRAMKIT_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  return ms * 1e-3;
}

struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
  Events() {
    VRAMKIT_CUDA_CHECK(cudaEventCreate(&start));
    VRAMKIT_CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~Events() {
    cudaEventDestroy(stop);
    cudaEventDestroy(start);
  }
};

// The benchmark loop: each iteration times `launch` with events (the manual time); returns the total seconds.
template <typename Fn>
double timed_iterations(benchmark::State& state, Fn&& launch) {
  Events events;
  double seconds = 0;
  for (auto _ : state) {
    const double t = timed(events.start, events.stop, launch);
    seconds += t;
    state.SetIterationTime(t);
  }
  return seconds;
}

// range(0..2): rows, in, out; range(3): dtype; the bias is always fused.
void BM_CudaLinear(benchmark::State& state) {
  if (cuda::device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t rows = state.range(0), in = state.range(1), out = state.range(2);
  const auto dt = static_cast<DType>(state.range(3));
  const std::size_t es = dtype_size(dt);
  const cuda::DeviceBuffer x = filled(rows * in * es), w = filled(out * in * es), bias = filled(out * es),
                           y(rows * out * es);
  cuda::GemmContext context;
  const cuda::LinearGemm gemm{x.data(), w.data(), bias.data(), y.data(), dt, rows, in, out};
  cuda::launch_linear_gemm(context, gemm, nullptr);  // the heuristic runs outside the timing
  const double seconds = timed_iterations(state, [&] { cuda::launch_linear_gemm(context, gemm, nullptr); });
  state.SetLabel(std::string(dtype_name(dt)) + ", " + cuda::device_info(0).name);
  state.counters["TFLOP/s"] = 2.0 * static_cast<double>(rows) * static_cast<double>(in) *
                              static_cast<double>(out) * static_cast<double>(state.iterations()) * 1e-12 /
                              seconds;
}

// range(0..2): rows, in, out; bf16 x and bias, f8_e4m3fn weight with per-row scales, bf16 y: x's
// quantization, the fp8 GEMMs into f32 and their epilogue, as ops::fp8_linear runs them. Reports an error
// where cuBLASLt has no native fp8 product (below sm_89): ops::fp8_linear would fall back to BM_CudaLinear's.
void BM_CudaFp8Linear(benchmark::State& state) {
  if (cuda::device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t rows = state.range(0), in = state.range(1), out = state.range(2);
  const cuda::DeviceBuffer x = filled(rows * in * 2), w = filled(out * in), w_scales = filled(out * 4),
                           bias = filled(out * 2), codes(rows * in), x_scales(rows * 4), y(rows * out * 2);
  const std::int64_t block_rows = ops::fp8_accumulator_rows(rows, out);
  const cuda::DeviceBuffer sums(block_rows * out * 4);
  cuda::GemmContext context;
  const cuda::Fp8LinearGemm gemm{codes.data(),
                                 static_cast<const float*>(x_scales.data()),
                                 w.data(),
                                 static_cast<const float*>(w_scales.data()),
                                 bias.data(),
                                 y.data(),
                                 DType::f8_e4m3fn,
                                 DType::bf16,
                                 rows,
                                 in,
                                 out,
                                 static_cast<float*>(sums.data()),
                                 block_rows};
  if (!cuda::fp8_linear_gemm_supported(context, gemm))  // the heuristic runs outside the timing
    return state.SkipWithError("cuBLASLt has no native fp8 GEMM for this shape on this device");
  auto launch = [&] {
    cuda::launch_quantize_fp8_rows(x.data(), DType::bf16, rows, in, codes.data(), DType::f8_e4m3fn,
                                   static_cast<float*>(x_scales.data()), nullptr);
    cuda::launch_fp8_linear_gemm(context, gemm, nullptr);
  };
  launch();
  const double seconds = timed_iterations(state, launch);
  state.SetLabel("f8_e4m3fn -> bf16, " + cuda::device_info(0).name);
  state.counters["TFLOP/s"] = 2.0 * static_cast<double>(rows) * static_cast<double>(in) *
                              static_cast<double>(out) * static_cast<double>(state.iterations()) * 1e-12 /
                              seconds;
}

// range(0): sequence length L (queries = keys), 24 heads of 128, batch 1; range(1): AttentionKernel.
void BM_CudaAttention(benchmark::State& state) {
  if (cuda::device_count() == 0) return state.SkipWithError("no CUDA device");
  const ops::cpu::AttentionDims dims{1, state.range(0), state.range(0), 24, 24, 128};
  const auto kernel = static_cast<cuda::AttentionKernel>(state.range(1));
  const std::size_t bytes = static_cast<std::size_t>(dims.q_len * dims.q_heads * dims.head_dim) * 2;
  const cuda::DeviceBuffer q = filled(bytes), k = filled(bytes), v = filled(bytes), out(bytes);
  auto launch = [&] {
    cuda::launch_attention(q.data(), k.data(), v.data(), out.data(), DType::bf16, dims, nullptr, false,
                           0.088f, kernel, nullptr);
  };
  launch();
  const double seconds = timed_iterations(state, launch);
  const auto l = static_cast<double>(dims.q_len);
  state.SetLabel(std::string(kernel == cuda::AttentionKernel::tensor_cores ? "tensor cores" : "cuda cores") +
                 ", bf16, " + cuda::device_info(0).name);
  state.counters["TFLOP/s"] =
      4.0 * l * l * 128 * 24 * static_cast<double>(state.iterations()) * 1e-12 / seconds;
}

// cuDNN's fused flash attention (attention_cudnn.h) at the shape of BM_CudaAttention: range(0): L (queries =
// keys), 24 heads of 128, bf16; range(1):
//   0: batch 1, no mask;
//   1: batch 1 with a key padding mask (every key valid), which adds the bias kernel, the [1, 1, 1, L] bias
//      read and the empty-row pass;
//   2: a CFG pair, batch 2 with a key mask padding the second sequence's last 100 keys (the DiT before key
//      lengths);
//   3: the same pair as two unmasked batch-1 runs over L and L - 100 keys (the DiT's key lengths).
// The plans (cuDNN compiles its kernels) are built before the timing; a refusal is reported as the
// benchmark's error with cuDNN's reason. TFLOP/s counts the allowed keys only, so 2 and 3 do the same work.
void BM_CudnnAttention(benchmark::State& state) {
  if (cuda::device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t l = state.range(0), padded = 100;
  const int mode = static_cast<int>(state.range(1));
  const std::int64_t batch = mode >= 2 ? 2 : 1;
  const ops::cpu::AttentionDims dims{batch, l, l, 24, 24, 128};
  const bool key_mask = mode == 1 || mode == 2;
  const std::size_t sequence_bytes = static_cast<std::size_t>(l * 24 * 128) * 2;
  const cuda::DeviceBuffer q = filled(batch * sequence_bytes), k = filled(batch * sequence_bytes),
                           v = filled(batch * sequence_bytes), out(batch * sequence_bytes),
                           mask(static_cast<std::size_t>(batch * l));
  VRAMKIT_CUDA_CHECK(cudaMemset(mask.data(), 1, mask.bytes()));
  if (mode == 2) VRAMKIT_CUDA_CHECK(cudaMemset(static_cast<char*>(mask.data()) + 2 * l - padded, 0, padded));
  const auto sequence = [&](std::int64_t keys) { return ops::cpu::AttentionDims{1, l, keys, 24, 24, 128}; };
  cuda::CudnnAttention attention;
  std::string reason;
  const bool supported =
      mode == 3 ? attention.supports(DType::bf16, sequence(l), false, false, &reason) &&
                      attention.supports(DType::bf16, sequence(l - padded), false, false, &reason)
                : attention.supports(DType::bf16, dims, key_mask, false, &reason);
  if (!supported) return state.SkipWithError(("cuDNN refuses: " + reason).c_str());
  const auto* mask_bytes = static_cast<const std::uint8_t*>(mask.data());
  auto launch = [&] {
    if (mode != 3) {
      attention.run(q.data(), k.data(), v.data(), out.data(), DType::bf16, dims,
                    key_mask ? mask_bytes : nullptr, false, 0.088f, nullptr);
      return;
    }
    for (std::int64_t b = 0; b < 2; ++b) {
      const std::size_t at = static_cast<std::size_t>(b) * sequence_bytes;
      attention.run(static_cast<const char*>(q.data()) + at, static_cast<const char*>(k.data()) + at,
                    static_cast<const char*>(v.data()) + at, static_cast<char*>(out.data()) + at, DType::bf16,
                    sequence(b == 0 ? l : l - padded), nullptr, false, 0.088f, nullptr);
    }
  };
  launch();
  const double seconds = timed_iterations(state, launch);
  static const char* const kNames[] = {"", " + key mask", ", CFG pair with a key mask",
                                       ", CFG pair by key lengths"};
  state.SetLabel(std::string("cuDNN SDPA") + kNames[mode] + ", bf16, " + cuda::device_info(0).name);
  const double keys =
      mode >= 2 ? 2.0 * static_cast<double>(l) - static_cast<double>(padded) : static_cast<double>(l);
  state.counters["TFLOP/s"] = 4.0 * static_cast<double>(l) * keys * 128 * 24 *
                              static_cast<double>(state.iterations()) * 1e-12 / seconds;
}

// Memory-bound kernels on [rows, 3072] beside a D2D copy of as many bytes as they move.
// range(0): rows; range(1): 0 = rms_norm (x bf16 -> y bf16, with an f32 weight), 1 = modulate with [1, 3072]
// f32 shift and scale (the DiT's AdaLN), 2 = the fp8 weight upcast of a streamed unit (e4m3 rows times their
// f32 scale -> bf16 staging, launch_dequantize_rows; the target: >= 80% of the copy rate), 3 = the
// DiT's LayerNorm and modulate in one pass (launch_layer_norm_modulate: the bytes of one norm, where the two
// ops move twice as many).
void BM_CudaMemoryBound(benchmark::State& state) {
  if (cuda::device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t rows = state.range(0), cols = 3072;
  const int kind = static_cast<int>(state.range(1));
  const std::size_t elements = static_cast<std::size_t>(rows * cols);
  const std::size_t in_bytes = elements * (kind == 2 ? 1 : 2), out_bytes = elements * 2;
  const std::size_t moved_bytes = in_bytes + out_bytes, copy_bytes = moved_bytes / 2;
  const cuda::DeviceBuffer x = filled(std::max(in_bytes, copy_bytes)), y(std::max(out_bytes, copy_bytes));
  const cuda::DeviceBuffer weight = filled(cols * 4), shift = filled(cols * 4), scales = filled(rows * 4);
  const std::vector<std::int64_t> shape{rows, cols};
  auto launch = [&] {
    if (kind == 1) {
      const cuda::StridedInput xin{x.data(), DType::bf16, {cols, 1}}, mod{shift.data(), DType::f32, {0, 1}},
          scale{weight.data(), DType::f32, {0, 1}};
      cuda::launch_ternary(cuda::TernaryOp::modulate, xin, mod, scale, y.data(), DType::bf16, shape, nullptr);
    } else if (kind == 3) {
      cuda::launch_layer_norm_modulate(x.data(), y.data(), DType::bf16, rows, cols, rows,
                                       {shift.data(), DType::f32, 0}, {weight.data(), DType::f32, 0}, 1e-6f,
                                       nullptr);
    } else if (kind == 2) {
      cuda::launch_dequantize_rows(x.data(), DType::f8_e4m3fn, y.data(), DType::bf16,
                                   static_cast<std::size_t>(rows), static_cast<std::size_t>(cols),
                                   static_cast<const float*>(scales.data()), nullptr);
    } else {
      cuda::launch_rms_norm(x.data(), y.data(), DType::bf16, rows, cols, {weight.data(), DType::f32}, 1e-6f,
                            nullptr);
    }
  };
  launch();
  Events events;
  double seconds = 0, copy_seconds = 0;
  for (auto _ : state) {
    copy_seconds += timed(events.start, events.stop, [&] {
      VRAMKIT_CUDA_CHECK(cudaMemcpyAsync(y.data(), x.data(), copy_bytes, cudaMemcpyDeviceToDevice, nullptr));
    });
    const double t = timed(events.start, events.stop, launch);
    seconds += t;
    state.SetIterationTime(t);
  }
  const double moved = static_cast<double>(moved_bytes) * static_cast<double>(state.iterations());
  static const char* const kNames[] = {"rms_norm bf16", "modulate bf16",
                                       "fp8 upcast (dequantize rows) -> bf16",
                                       "layer_norm + modulate bf16, fused"};
  state.SetLabel(std::string(kNames[kind]) + ", " + cuda::device_info(0).name);
  state.counters["GB/s"] = moved * 1e-9 / seconds;
  state.counters["copy_GB/s"] = moved * 1e-9 / copy_seconds;
  state.counters["of_copy"] = copy_seconds / seconds;
}

constexpr auto kBf16 = static_cast<std::int64_t>(DType::bf16);
constexpr auto kF32 = static_cast<std::int64_t>(DType::f32);

BENCHMARK(BM_CudaLinear)
    ->Args({7000, 3072, 12288, kBf16})  // DiT MLP up-projection
    ->Args({7000, 12288, 3072, kBf16})  // DiT MLP down-projection
    ->Args({7000, 3072, 3072, kBf16})   // DiT attention projections
    ->Args({7000, 3072, 3072, kF32})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaFp8Linear)
    ->Args({7000, 3072, 12288})  // DiT MLP up-projection
    ->Args({7000, 12288, 3072})  // DiT MLP down-projection
    ->Args({7000, 3072, 3072})   // DiT attention projections
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaAttention)
    ->Args({7000, static_cast<std::int64_t>(cuda::AttentionKernel::tensor_cores)})
    ->Args({7000, static_cast<std::int64_t>(cuda::AttentionKernel::cuda_cores)})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudnnAttention)
    ->Args({7000, 0})
    ->Args({7000, 1})
    ->Args({7000, 2})
    ->Args({7000, 3})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaMemoryBound)
    ->Args({7000, 0})
    ->Args({7000, 1})
    ->Args({12288, 2})  // the DiT's MLP up-projection weight, 12288 x 3072
    ->Args({7000, 3})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace vramkit

#endif  // VRAMKIT_HAS_CUDA
