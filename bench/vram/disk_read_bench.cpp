// Disk tier read rates: buffered pread against O_DIRECT on a 1.5 GiB safetensors file of 24 tensors of 64 MiB
// (read as the disk tier reads one unit per tensor, DiskSource's plans into an aligned buffer), after dropping
// the file from the page cache (posix_fadvise DONTNEED) before every pass, so both modes read from the device.
// The file is written next to the working directory (the build tree) or under $VRAMKIT_BENCH_DIR: a tmpfs
// refuses O_DIRECT, and its "disk" is RAM anyway. Not run in CI.
#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "io/model_files.h"
#include "vram/disk_reads.h"

namespace vramkit {
namespace {

constexpr int kTensors = 24;
constexpr std::uint64_t kTensorBytes = std::uint64_t{64} << 20;

struct DiskFixture {
  std::filesystem::path path;
  std::shared_ptr<const WeightFiles> files;

  DiskFixture() {
    const char* dir = std::getenv("VRAMKIT_BENCH_DIR");
    path = std::filesystem::path(dir ? dir : ".") / ("vramkit_disk_bench_" + std::to_string(::getpid()) + ".safetensors");
    // The header by hand, the data in chunks: the file is larger than what a bench should hold in memory.
    std::string header = "{";
    for (int i = 0; i < kTensors; ++i)
      header += std::string(i ? "," : "") + "\"t" + std::to_string(i) + "\":{\"dtype\":\"U8\",\"shape\":[" +
                std::to_string(kTensorBytes) + "],\"data_offsets\":[" + std::to_string(i * kTensorBytes) + "," +
                std::to_string((i + 1) * kTensorBytes) + "]}";
    header += "}";
    header.append((8 - header.size() % 8) % 8, ' ');
    {
      std::ofstream out(path, std::ios::binary);
      const std::uint64_t n = header.size();
      out.write(reinterpret_cast<const char*>(&n), 8);
      out << header;
      std::string chunk(std::size_t{1} << 20, '\0');
      for (std::size_t j = 0; j < chunk.size(); ++j) chunk[j] = static_cast<char>(j * 131 + 7);
      for (std::uint64_t written = 0; written < kTensors * kTensorBytes; written += chunk.size())
        out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    }
    const int fd = ::open(path.c_str(), O_RDONLY);
    ::fsync(fd);  // dirty pages cannot be dropped
    ::close(fd);
    files = std::make_shared<const WeightFiles>(WeightFiles::open(path));
  }
  ~DiskFixture() { std::filesystem::remove(path); }

  void drop_from_page_cache() const {
    const int fd = ::open(path.c_str(), O_RDONLY);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
};

DiskFixture& disk_fixture() {
  static DiskFixture f;
  return f;
}

void BM_DiskRead(benchmark::State& state) {
  auto& f = disk_fixture();
  const DirectIo mode = state.range(0) ? DirectIo::on : DirectIo::off;
  std::unique_ptr<DiskSource> source;
  try {
    source = std::make_unique<DiskSource>(*f.files, mode);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  std::vector<DiskReadPlan> plans;
  std::uint64_t buffer_bytes = 0, bytes = 0;
  for (const auto& t : f.files->tensors()) {
    plans.push_back(source->plan({&t}));
    buffer_bytes = std::max(buffer_bytes, plans.back().buffer_bytes);
  }
  void* raw = nullptr;
  if (posix_memalign(&raw, std::max<std::uint64_t>(4096, source->buffer_alignment()), buffer_bytes) != 0) {
    state.SkipWithError("posix_memalign");
    return;
  }
  const std::unique_ptr<void, decltype(&std::free)> buffer(raw, &std::free);
  double seconds = 0;
  for (auto _ : state) {
    f.drop_from_page_cache();
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& plan : plans)
      for (const DiskRead& read : plan.reads) source->read(read, static_cast<char*>(buffer.get()));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(s);
    seconds += s;
    for (const auto& plan : plans) bytes += plan.read_bytes;
  }
  state.counters["GB/s"] = static_cast<double>(bytes) / seconds / 1e9;
  state.SetLabel(mode == DirectIo::on ? "O_DIRECT" : "buffered");
}

BENCHMARK(BM_DiskRead)->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace vramkit
