// Streaming overlap on the emulated device: a model of linear blocks run fully resident (the compute ceiling),
// copied alone through a throttled copy engine (the bus ceiling), and streamed with vram_limit=0 at that
// bandwidth. Overlap works when streamed time ~ max(compute, bytes / bandwidth); the `ratio` counter is that
// quotient, measured in the same run (target <= 1.15). Bandwidths are chosen relative to the measured compute
// time so that the copy takes 0.5x, 1x and 2x the compute.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <unistd.h>

#include "backends/emu/emu_accelerator.h"
#include "io/model_files.h"
#include "io/safetensors.h"
#include "ops/linear.h"
#include "vram/managed_model.h"
#include "vram/manager.h"

namespace vramkit {
namespace {

constexpr int kBlocks = 16, kDim = 1024, kTokens = 64;
constexpr std::size_t kGiB = std::size_t{1} << 30;

struct Fixture {
  std::filesystem::path dir;
  std::shared_ptr<const WeightFiles> files;
  std::uint64_t model_bytes = 0;
  double compute_seconds = 0;  // one resident forward, measured once

  Fixture() {
    dir = std::filesystem::temp_directory_path() / ("vramkit_streaming_bench_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f / std::sqrt(static_cast<float>(kDim)));
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (int b = 0; b < kBlocks; ++b) {
      std::vector<float> w(static_cast<std::size_t>(kDim) * kDim);
      for (float& v : w) v = normal(rng);
      tensors.emplace_back("blocks." + std::to_string(b) + ".weight", Tensor::from_floats({kDim, kDim}, w).to(DType::bf16));
      model_bytes += static_cast<std::uint64_t>(kDim) * kDim * 2;
    }
    write_safetensors(dir / "model.safetensors", tensors);
    files = std::make_shared<const WeightFiles>(WeightFiles::open(dir / "model.safetensors"));
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

std::vector<UnitSpec> units() {
  std::vector<UnitSpec> u;
  for (int b = 0; b < kBlocks; ++b) u.push_back({"blocks." + std::to_string(b), {"blocks." + std::to_string(b) + ".weight"}});
  return u;
}

Tensor input() {
  std::vector<float> x(static_cast<std::size_t>(kTokens) * kDim);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.1f * static_cast<float>(i));
  return Tensor::from_floats({kTokens, kDim}, x).to(DType::bf16);
}

void forward(ManagedModel& model, const Tensor& x0) {
  Tensor x = x0;
  for (int b = 0; b < kBlocks; ++b) {
    UnitLease w = model.acquire(static_cast<std::size_t>(b));
    x = ops::linear(x, w[0]);
  }
  benchmark::DoNotOptimize(x.data());
}

double time_forwards(ManagedModel& model, int n) {
  const Tensor x = input();
  forward(model, x);  // warm-up: first copies, page faults
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) forward(model, x);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / n;
}

void BM_Resident(benchmark::State& state) {
  auto& f = fixture();
  VramManager manager(std::make_shared<EmuAccelerator>(EmuOptions{kGiB, 0, 0}), {});
  auto model = manager.add_model("m", f.files, units(), VramConfig::preset("none"));
  model->onload();
  for (auto _ : state) state.SetIterationTime(time_forwards(*model, 3));
  f.compute_seconds = time_forwards(*model, 5);
  state.counters["GFLOP/s"] = 2.0 * kTokens * kDim * kDim * kBlocks / f.compute_seconds / 1e9;
}

// Copy: the model's bytes through one throttled emulated copy engine, nothing else.
double copy_seconds(double gbps) {
  EmuAccelerator emu({kGiB, gbps, 10});
  auto stream = emu.create_stream("h2d");
  std::vector<unsigned char> src(static_cast<std::size_t>(kDim) * kDim * 2), dst(src.size());
  const auto t0 = std::chrono::steady_clock::now();
  for (int b = 0; b < kBlocks; ++b) stream->copy(dst.data(), src.data(), src.size());
  stream->synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void BM_Streamed(benchmark::State& state) {
  auto& f = fixture();
  if (f.compute_seconds == 0) {
    state.SkipWithError("run BM_Resident first");
    return;
  }
  // Bandwidth at which copying the model takes copy_to_compute x the compute time.
  const double copy_to_compute = static_cast<double>(state.range(0)) / 100.0;
  const double gbps = static_cast<double>(f.model_bytes) / (copy_to_compute * f.compute_seconds) / 1e9;
  ManagerOptions options;
  options.vram_limit = 0;
  VramManager manager(std::make_shared<EmuAccelerator>(EmuOptions{kGiB, gbps, 10}), options);
  auto model = manager.add_model("m", f.files, units(), VramConfig::preset("dynamic").with_storage_dtype(DType::bf16));
  model->onload();
  double seconds = 0;
  for (auto _ : state) {
    seconds = time_forwards(*model, 3);
    state.SetIterationTime(seconds);
  }
  const double copy = copy_seconds(gbps);
  state.counters["GB/s"] = gbps;
  state.counters["compute_ms"] = f.compute_seconds * 1e3;
  state.counters["copy_ms"] = copy * 1e3;
  state.counters["ratio"] = seconds / std::max(f.compute_seconds, copy);
}

BENCHMARK(BM_Resident)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK(BM_Streamed)->Arg(50)->Arg(100)->Arg(200)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(2);

}  // namespace
}  // namespace vramkit
