#include "cli/bench.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "cli/bench_ceilings.h"
#include "cli/bench_modes.h"
#include "cli/vram_options.h"
#include "core/human_bytes.h"
#include "io/model_folder.h"
#include "models/qwen_image/dit.h"
#include "vramkit/error.h"

namespace vramkit::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr float kTimestep = 0.5f;  // sigma of every forward (one row of precomputed modulation)

struct Workload {
  fs::path model;
  std::vector<fs::path> transformer_files;  // the safetensors files the disk modes read
  qwen_image::DitInputs inputs;
  std::int64_t batch = 1;
  std::int64_t num_layers = 0;  // the DiT's blocks
};

struct ModeResult {
  BenchMode mode;
  std::optional<std::uint64_t> vram_limit;
  std::vector<double> seconds;  // each timed forward
  double median_seconds = 0;
  TelemetrySnapshot counters;  // over the timed forwards
  std::optional<std::uint64_t> driver_used_bytes;  // cuda: the drop of the driver's free memory from before
                                                   // the mode to after its forwards
  // What the device arena took from the device (its backed high-water mark; on CUDA in 32 MiB mapping steps):
  // between the peak and the driver's view, which adds the memory outside the arena (the CUDA context).
  std::uint64_t arena_committed_bytes = 0;
  std::string vram_config;                  // the resolved eight keys, as `vramkit plan` prints them
  Plan plan;                                // of the token-stream model
  std::uint64_t page_cache_left_bytes = 0;  // disk-cold: the most bytes a drop left cached
};

struct Ceilings {
  double pinned_h2d_gbps = 0;
  double pageable_h2d_gbps = 0;
  double disk_read_gbps = 0;
  PageCacheDrop disk_drop;
  std::optional<double> resident_seconds;  // the basic mode's median
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

Tensor random_normal(Shape shape, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(static_cast<std::size_t>(shape.numel()));
  for (float& v : values) v = normal(rng);
  return Tensor::from_floats(shape, values);
}

Workload make_workload(const BenchArguments& args) {
  // A pixel is 1/8 of a latent (the VAE) and a token 2x2 latents (the patch).
  for (const auto& [name, value] : {std::pair{"--width", args.width}, std::pair{"--height", args.height}})
    if (value <= 0 || value % 16 != 0)
      throw ArgumentError(std::string(name) + ": " + std::to_string(value) +
                          " is not a positive multiple of 16");
  Workload w;
  w.model = args.model;
  const fs::path component = ModelFolder::is_model_folder(w.model) ? w.model / "transformer" : w.model;
  const WeightFiles files = WeightFiles::open(component);
  for (const auto& file : files.files()) w.transformer_files.push_back(file->path());
  const auto config = qwen_image::DitConfig::from_json_file(component / "config.json");
  w.batch = args.cfg > 1 ? 2 : 1;
  w.num_layers = config.num_layers;
  const std::int64_t grid_h = args.height / 16, grid_w = args.width / 16;
  w.inputs.hidden_states = random_normal({w.batch, grid_h * grid_w, config.in_channels}, 1);
  w.inputs.encoder_hidden_states = random_normal({w.batch, args.text_tokens, config.joint_attention_dim}, 2);
  w.inputs.timestep =
      Tensor::from_floats({w.batch}, std::vector<float>(static_cast<std::size_t>(w.batch), kTimestep));
  w.inputs.grid = {1, grid_h, grid_w};
  return w;
}

VramSettings mode_settings(const BenchArguments& args, const BenchMode& mode) {
  VramArguments v = args.vram;
  v.offload = mode.offload;
  v.storage_dtype = mode.storage_dtype;
  v.vram_limit = mode.resident_fraction || mode.limit_gib ? "0" : "";  // the bytes: mode_limit
  v.native_fp8_gemm = mode.native_fp8_gemm;
  return resolve_vram_arguments(v, "transformer");
}

// The budget of a limit-G mode, or of a dynamic-P mode: the ring and the workspace of a fully streamed plan,
// plus P of the weights' resident bytes.
std::optional<std::uint64_t> mode_limit(const BenchArguments& args, const BenchMode& mode,
                                        const Workload& w) {
  if (mode.limit_gib) return static_cast<std::uint64_t>(*mode.limit_gib * static_cast<double>(1ull << 30));
  if (!mode.resident_fraction) return std::nullopt;
  if (*mode.resident_fraction == 0) return 0;
  const VramSettings settings = mode_settings(args, mode);
  VramManager manager(make_accelerator(settings.device), settings.manager);
  const auto dit = qwen_image::QwenImageDit::open(manager, w.model, settings.config);
  dit->reserve_workspace(w.inputs);
  const Plan streamed = dit->managed().make_plan();
  std::uint64_t weights = 0;
  for (const auto& unit : streamed.units) weights += unit.resident_bytes;
  return streamed.ring_bytes + streamed.workspace_bytes +
         static_cast<std::uint64_t>(*mode.resident_fraction * static_cast<double>(weights));
}

ModeResult run_mode(const BenchArguments& args, const BenchMode& mode, const Workload& w) {
  ModeResult r;
  r.mode = mode;
  r.vram_limit = mode_limit(args, mode, w);
  VramSettings settings = mode_settings(args, mode);
  settings.manager.vram_limit = r.vram_limit;
  const bool cuda = settings.device.device.kind == DeviceKind::cuda;
  const std::uint64_t free_before = cuda ? free_device_bytes(settings.device) : 0;
  const auto accelerator = make_accelerator(settings.device);
  VramManager manager(accelerator, settings.manager);
  const auto dit = qwen_image::QwenImageDit::open(manager, w.model, settings.config);
  const qwen_image::DitModulation modulation =
      dit->precompute_modulation(Tensor::from_floats({1}, std::vector<float>{kTimestep}));
  for (int i = 0; i <= args.repeat; ++i) {  // forward 0 is the warm-up
    if (mode.cold_page_cache)
      r.page_cache_left_bytes =
          std::max(r.page_cache_left_bytes, drop_from_page_cache(w.transformer_files).cached_bytes);
    if (i == 1) manager.reset_telemetry();  // the steady state: counters and peaks without the warm-up
    const auto t0 = Clock::now();
    const Tensor out = dit->forward(w.inputs, &modulation);
    accelerator->compute_stream().synchronize();
    if (i > 0) r.seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  r.median_seconds = median(r.seconds);
  r.counters = manager.snapshot();
  r.arena_committed_bytes = accelerator->memory_info().committed_bytes;
  if (cuda) {
    const std::uint64_t free_after = free_device_bytes(settings.device);
    r.driver_used_bytes = free_before > free_after ? free_before - free_after : 0;
  }
  r.vram_config = dit->managed().config().str();
  r.plan = dit->managed().plan();
  dit->offload();
  return r;
}

// The lower bound of a mode's forward on this machine: the slowest of computing everything resident, copying
// its host -> device bytes at the pinned rate and reading its disk bytes at the disk rate (those the page
// cache served come from RAM: not counted).
double floor_seconds(const ModeResult& r, const Ceilings& c, int repeat) {
  const double h2d = static_cast<double>(r.counters.bytes_host_to_device) / repeat;
  const double disk =
      static_cast<double>(r.counters.bytes_disk_to_host - r.counters.bytes_disk_from_page_cache) / repeat;
  double floor = c.resident_seconds.value_or(0);
  if (c.pinned_h2d_gbps > 0) floor = std::max(floor, h2d / (c.pinned_h2d_gbps * 1e9));
  if (c.disk_read_gbps > 0) floor = std::max(floor, disk / (c.disk_read_gbps * 1e9));
  return floor;
}

json mode_json(const ModeResult& r, const Ceilings& c, int repeat) {
  const double h2d = static_cast<double>(r.counters.bytes_host_to_device) / repeat;
  const double floor = floor_seconds(r, c, repeat);
  json j;
  j["mode"] = r.mode.name;
  j["offload"] = r.mode.offload;
  j["vram_config"] = r.vram_config;
  j["vram_limit_bytes"] = r.vram_limit ? json(*r.vram_limit) : json(nullptr);
  j["seconds_per_forward"] = r.median_seconds;
  j["seconds"] = r.seconds;
  j["peak_device_bytes"] = r.counters.peak_device_bytes;
  j["peak_activation_bytes"] = r.counters.peak_activation_bytes;  // of the steady-state forwards
  j["driver_used_bytes"] = r.driver_used_bytes ? json(*r.driver_used_bytes) : json(nullptr);
  j["arena_committed_bytes"] = r.arena_committed_bytes;
  j["resident_bytes"] = r.plan.resident_bytes;
  j["ring_bytes"] = r.plan.ring_bytes;
  j["bytes_host_to_device"] = r.counters.bytes_host_to_device;
  j["bytes_disk_to_host"] = r.counters.bytes_disk_to_host;
  j["bytes_host_to_device_per_forward"] = h2d;
  j["bytes_disk_to_host_per_forward"] = static_cast<double>(r.counters.bytes_disk_to_host) / repeat;
  j["bytes_disk_from_page_cache_per_forward"] =
      static_cast<double>(r.counters.bytes_disk_from_page_cache) / repeat;
  j["predicted_bytes_host_to_device_per_forward"] = r.plan.stream_bytes_per_forward;
  j["predicted_bytes_disk_to_host_per_forward"] = r.plan.disk_bytes_per_forward;
  j["achieved_h2d_gbps"] = h2d / r.median_seconds / 1e9;
  j["copy_wait_seconds_per_forward"] = r.counters.copy_wait_seconds / repeat;
  j["floor_seconds"] = floor;
  j["ratio"] = floor > 0 ? json(r.median_seconds / floor) : json(nullptr);
  j["native_fp8_gemm"] = r.mode.native_fp8_gemm;
  if (r.mode.cold_page_cache) j["page_cache_left_bytes"] = r.page_cache_left_bytes;
  return j;
}

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::string gb(double bytes) {
  return format("%.3f", bytes / 1e9);
}

void print_table(std::ostream& out, const json& report) {
  int name_width = 15;  // the longest default name, stream-fp8-gemm
  for (const auto& m : report["modes"])
    name_width = std::max(name_width, static_cast<int>(m["mode"].get<std::string>().size()));
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %10s %10s %10s %10s %9s %9s %8s %9s %9s %6s\n", name_width, "mode",
                "limit GB", "ms/fwd", "peak GB", "resid. GB", "H2D GB", "disk GB", "GB/s", "wait ms",
                "floor ms", "ratio");
  out << line;
  for (const auto& m : report["modes"]) {
    const std::string limit =
        m["vram_limit_bytes"].is_null() ? "none" : gb(m["vram_limit_bytes"].get<double>());
    const std::string ratio = m["ratio"].is_null() ? "-" : format("%.2f", m["ratio"].get<double>());
    std::snprintf(
        line, sizeof line, "%-*s %10s %10.1f %10s %10s %9s %9s %8.2f %9.1f %9.1f %6s\n", name_width,
        m["mode"].get<std::string>().c_str(), limit.c_str(), 1e3 * m["seconds_per_forward"].get<double>(),
        gb(m["peak_device_bytes"].get<double>()).c_str(), gb(m["resident_bytes"].get<double>()).c_str(),
        gb(m["bytes_host_to_device_per_forward"].get<double>()).c_str(),
        gb(m["bytes_disk_to_host_per_forward"].get<double>()).c_str(), m["achieved_h2d_gbps"].get<double>(),
        1e3 * m["copy_wait_seconds_per_forward"].get<double>(), 1e3 * m["floor_seconds"].get<double>(),
        ratio.c_str());
    out << line;
  }
  const json& c = report["ceilings"];
  out << "ceilings: pinned H2D " << format("%.2f", c["pinned_h2d_gbps"].get<double>())
      << " GB/s, pageable H2D " << format("%.2f", c["pageable_h2d_gbps"].get<double>()) << " GB/s, disk read "
      << format("%.2f", c["disk_read_gbps"].get<double>()) << " GB/s";
  if (c["disk_read_cached_bytes"].get<std::uint64_t>() > 0)
    out << " (" << human_bytes(c["disk_read_cached_bytes"].get<std::uint64_t>())
        << " stayed in the page cache: not a cold read)";
  out << ", resident compute "
      << (c["resident_compute_seconds"].is_null()
              ? std::string("-")
              : format("%.1f", 1e3 * c["resident_compute_seconds"].get<double>()))
      << " ms per forward\n";
}

}  // namespace

void add_bench_arguments(CLI::App& command, BenchArguments& args) {
  command.add_option("--model", args.model, "a Qwen-Image model folder (or its transformer folder)")
      ->required();
  command.add_option("--width", args.width, "image width in pixels (multiple of 16)")->capture_default_str();
  command.add_option("--height", args.height, "image height in pixels (multiple of 16)")
      ->capture_default_str();
  command.add_option("--text-tokens", args.text_tokens, "text tokens per sample")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  command.add_option("--cfg", args.cfg, "true CFG scale; > 1 runs the batch of 2 (both branches)")
      ->capture_default_str();
  command.add_option("--modes", args.modes,
                     "comma-separated modes (default all): basic, fp8, stream-bf16, "
                     "stream-fp8, dynamic-25, dynamic-50, dynamic-75, disk-warm, disk-cold, fp8-gemm, "
                     "stream-fp8-gemm; also limit-G, limit-G-bf16, limit-G-fp8-gemm (vram_limit G GiB)");
  command
      .add_option("--repeat", args.repeat,
                  "timed forwards per mode after one warm-up (the median is reported)")
      ->capture_default_str()
      ->check(CLI::Range(5, 1000));
  command.add_option("--json", args.json, "also write the results as JSON to this file");
  add_device_arguments(command, args.vram);
}

void run_bench(const BenchArguments& args, std::ostream& out) {
  const std::vector<BenchMode> modes = parse_bench_modes(args.modes);
  const RunDevice device = parse_run_device(args.vram.device);
  const Workload workload = make_workload(args);

  Ceilings ceilings;
  {
    const auto accelerator = make_accelerator(device);
    ceilings.pinned_h2d_gbps = measure_h2d_gbps(*accelerator, true);
    ceilings.pageable_h2d_gbps = measure_h2d_gbps(*accelerator, false);
  }
  ceilings.disk_read_gbps = measure_disk_read_gbps(workload.transformer_files, ceilings.disk_drop);

  // The basic mode first: its time is every mode's compute ceiling. A model too large for the device gives
  // no compute ceiling; the other modes still run.
  const auto& all = bench_modes();
  std::optional<ModeResult> basic;
  try {
    basic = run_mode(args, all.front(), workload);
    ceilings.resident_seconds = basic->median_seconds;
  } catch (const OutOfMemory&) {
  }

  json report;
  report["model"] = workload.model.string();
  report["device"] = device.device.str();
  report["device_name"] = device_name(device);
  report["num_layers"] = workload.num_layers;
  report["width"] = args.width;
  report["height"] = args.height;
  report["image_tokens"] = workload.inputs.hidden_states.size(1);
  report["text_tokens"] = args.text_tokens;
  report["batch"] = workload.batch;
  report["cfg"] = args.cfg;
  report["repeat"] = args.repeat;
  report["timestep_modulation"] = "precomputed";
  report["ceilings"] = {{"pinned_h2d_gbps", ceilings.pinned_h2d_gbps},
                        {"pageable_h2d_gbps", ceilings.pageable_h2d_gbps},
                        {"disk_read_gbps", ceilings.disk_read_gbps},
                        {"disk_read_bytes", ceilings.disk_drop.file_bytes},
                        {"disk_read_cached_bytes", ceilings.disk_drop.cached_bytes},
                        {"resident_compute_seconds",
                         ceilings.resident_seconds ? json(*ceilings.resident_seconds) : json(nullptr)}};
  report["modes"] = json::array();
  for (const BenchMode& mode : modes) {
    const ModeResult r = mode.name == all.front().name && basic ? *basic : run_mode(args, mode, workload);
    report["modes"].push_back(mode_json(r, ceilings, args.repeat));
  }
  print_table(out, report);
  if (!args.json.empty()) {
    std::ofstream file(args.json);
    file << report.dump(2) << "\n";
    file.close();
    if (!file) throw IoError("--json: cannot write " + args.json);
  }
}

}  // namespace vramkit::cli
