// Attention at the Qwen-Image DiT's head shape (24 heads x 128) for a range of sequence lengths, in GFLOP/s
// (4·B·H·Lq·Lk·D flops: QKᵀ and PV, the softmax not counted), beside OpenBLAS sgemm's own rate on a square
// 2048³ product measured in the same run: the ceiling any GEMM-bound CPU kernel can reach on this machine.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <vector>

#include "core/tensor.h"
#include "ops/attention.h"

namespace vramkit::ops {
namespace {

Tensor filled(const Shape& shape, DType dtype, float value) {
  std::vector<float> v(static_cast<std::size_t>(shape.numel()));
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = value * static_cast<float>((i * 7919) % 113) / 113.0f - 0.5f;
  return Tensor::from_floats(shape, v).to(dtype);
}

void BM_Sgemm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<float> a(static_cast<std::size_t>(n) * n, 0.5f), b(a), c(a.size());
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Sgemm)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

// Args: sequence length, heads, causal, dtype (0 f32, 1 bf16).
void BM_Attention(benchmark::State& state) {
  const std::int64_t l = state.range(0), h = state.range(1), d = 128;
  const DType dtype = state.range(3) ? DType::bf16 : DType::f32;
  const Tensor q = filled({1, l, h, d}, dtype, 2.0f);
  const Tensor k = filled({1, l, h, d}, dtype, 1.0f);
  const Tensor v = filled({1, l, h, d}, dtype, 1.0f);
  AttentionOptions o;
  o.causal = state.range(2) != 0;
  for (auto _ : state) benchmark::DoNotOptimize(attention(q, k, v, o).data());
  const double flops = 4.0 * static_cast<double>(h * l * l * d) * (o.causal ? 0.5 : 1.0);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Attention)
    ->ArgNames({"L", "heads", "causal", "bf16"})
    ->Args({1024, 24, 0, 0})
    ->Args({2048, 24, 0, 0})
    ->Args({4096, 24, 0, 0})
    ->Args({2048, 24, 0, 1})
    ->Args({2048, 24, 1, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace vramkit::ops
