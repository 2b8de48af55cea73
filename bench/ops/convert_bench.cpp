// Throughput of the bulk dtype conversions, vector kernels against the scalar ones, on 16 MiB source buffers
// (out of cache). bytes_per_second counts bytes read plus bytes written. Single-threaded, as convert() is.
//
// Inputs: f32 values with random sign and magnitude 2^-12..2^10 (weights-like, with some fp8 overflow), and
// random codes for the decoding directions.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "core/convert.h"
#include "core/convert_simd.h"

namespace vramkit {
namespace {

constexpr std::size_t kSourceBytes = 16u << 20;

std::vector<std::uint8_t> make_source(DType from) {
  const std::size_t n = kSourceBytes / dtype_size(from);
  std::vector<std::uint8_t> bytes(kSourceBytes);
  std::mt19937 rng(42);
  if (from == DType::f32) {
    std::uniform_real_distribution<float> exponent(-12.0f, 10.0f);
    auto* f = reinterpret_cast<float*>(bytes.data());
    for (std::size_t i = 0; i < n; ++i) f[i] = (rng() % 2 ? -1.0f : 1.0f) * std::exp2(exponent(rng));
  } else {
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  }
  return bytes;
}

// Arg 0: scalar kernels forced; arg 1: the kernels convert() picks (AVX2 where the CPU has it).
void bm_convert(benchmark::State& state, DType from, DType to, bool saturate) {
  const bool vector = state.range(0) != 0;
  if (vector && detail::avx2_convert_kernels() == nullptr) {
    state.SkipWithError("CPU without AVX2/F16C/FMA");
    return;
  }
  const std::vector<std::uint8_t> src = make_source(from);
  const std::size_t n = src.size() / dtype_size(from);
  std::vector<std::uint8_t> dst(n * dtype_size(to));
  std::optional<detail::ScalarConvertScope> scalar;
  if (!vector) scalar.emplace();
  for (auto _ : state) {
    convert(src.data(), from, dst.data(), to, n, ConvertOptions{saturate});
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(detail::active_convert_kernels().name);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(src.size() + dst.size()));
}

#define VRAMKIT_CONVERT_BENCH(name, from, to, saturate)                 \
  BENCHMARK_CAPTURE(bm_convert, name, DType::from, DType::to, saturate) \
      ->Arg(0)                                                          \
      ->Arg(1)                                                          \
      ->Unit(benchmark::kMillisecond)

VRAMKIT_CONVERT_BENCH(f32_to_bf16, f32, bf16, true);
VRAMKIT_CONVERT_BENCH(bf16_to_f32, bf16, f32, true);
VRAMKIT_CONVERT_BENCH(f32_to_f16, f32, f16, true);
VRAMKIT_CONVERT_BENCH(f16_to_f32, f16, f32, true);
VRAMKIT_CONVERT_BENCH(f8_e4m3fn_to_f32, f8_e4m3fn, f32, true);
VRAMKIT_CONVERT_BENCH(f8_e5m2_to_f32, f8_e5m2, f32, true);
VRAMKIT_CONVERT_BENCH(f32_to_f8_e4m3fn_saturating, f32, f8_e4m3fn, true);
VRAMKIT_CONVERT_BENCH(f32_to_f8_e4m3fn_plain, f32, f8_e4m3fn, false);
VRAMKIT_CONVERT_BENCH(f32_to_f8_e5m2_saturating, f32, f8_e5m2, true);
VRAMKIT_CONVERT_BENCH(f32_to_f8_e5m2_plain, f32, f8_e5m2, false);
VRAMKIT_CONVERT_BENCH(bf16_to_f8_e4m3fn_saturating, bf16, f8_e4m3fn, true);  // the fp8-at-load path

}  // namespace
}  // namespace vramkit
