// linear at Qwen-Image DiT block shapes (tokens x 3072 -> 3072 for the attention projections, 3072 -> 12288
// for the MLP up-projection), cut down in tokens for small CPUs, for every weight dtype, beside OpenBLAS
// sgemm on the same shape (the ceiling: linear is sgemm plus widening the weights, the epilogue and, for bf16
// activations, widening x and narrowing y).
//
// Each iteration times one sgemm and then one linear on the same shape, so both rates see the same machine
// load (on a shared machine the load drifts between benchmarks). Counters: GFLOP/s = 2·M·N·K / linear time;
// sgemm_GFLOP/s likewise for sgemm; of_sgemm = their ratio. The reported time is the linear's.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/linear.h"

namespace vramkit {
namespace {

using Clock = std::chrono::steady_clock;

Tensor filled(const Shape& shape, DType dtype) {
  std::vector<float> v(static_cast<std::size_t>(shape.numel()));
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  return Tensor::from_floats(shape, v).to(dtype);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// range(0..2): tokens M, in K, out N; range(3): weight dtype; range(4): activation dtype.
void BM_Linear(benchmark::State& state) {
  const std::int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const auto wdt = static_cast<DType>(state.range(3)), xdt = static_cast<DType>(state.range(4));
  const Tensor x = filled({m, k}, xdt), w = filled({n, k}, wdt), bias = filled({n}, DType::f32);
  const bool fp8 = wdt == DType::f8_e4m3fn || wdt == DType::f8_e5m2;
  const Tensor scale = fp8 ? filled({n}, DType::f32) : Tensor();
  const Tensor x32 = filled({m, k}, DType::f32), w32 = filled({n, k}, DType::f32);
  Tensor y32 = Tensor::empty({m, n}, DType::f32);
  state.SetLabel("w " + std::string(dtype_name(wdt)) + ", x " + std::string(dtype_name(xdt)));
  double sgemm_s = 0, linear_s = 0;
  for (auto _ : state) {
    auto start = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), 1.0f, x32.data_as<float>(), static_cast<int>(k), w32.data_as<float>(),
                static_cast<int>(k), 0.0f, y32.data_as<float>(), static_cast<int>(n));
    sgemm_s += seconds_since(start);
    start = Clock::now();
    benchmark::DoNotOptimize(ops::linear(x, w, bias, scale));
    const double t = seconds_since(start);
    linear_s += t;
    state.SetIterationTime(t);
  }
  const double flop = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) *
                      static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = flop * 1e-9 / linear_s;
  state.counters["sgemm_GFLOP/s"] = flop * 1e-9 / sgemm_s;
  state.counters["of_sgemm"] = sgemm_s / linear_s;
}

void linear_args(benchmark::internal::Benchmark* b) {
  // {tokens, in, out}: attention projection at 256 and 1024 tokens, MLP up-projection at 256 tokens.
  for (const std::vector<std::int64_t>& s :
       std::vector<std::vector<std::int64_t>>{{256, 3072, 3072}, {1024, 3072, 3072}, {256, 3072, 12288}}) {
    for (DType w : {DType::bf16, DType::f32, DType::f8_e4m3fn, DType::f8_e5m2})
      b->Args({s[0], s[1], s[2], static_cast<std::int64_t>(w), static_cast<std::int64_t>(DType::f32)});
    b->Args(
        {s[0], s[1], s[2], static_cast<std::int64_t>(DType::bf16), static_cast<std::int64_t>(DType::bf16)});
  }
}

BENCHMARK(BM_Linear)->Apply(linear_args)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace vramkit
