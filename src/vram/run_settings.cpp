#include "vram/run_settings.h"

#include <unistd.h>

#include <charconv>
#include <cmath>

#include "backends/emu/emu_accelerator.h"
#include "core/human_bytes.h"
#include "vramkit/error.h"
#ifdef VRAMKIT_HAS_CUDA
#include "backends/cuda/cuda_accelerator.h"
#include "backends/cuda/cuda_device.h"
#endif

namespace vramkit {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr std::uint64_t kAutoMargin = std::uint64_t{1} << 29;  // 0.5 GiB kept free by `auto`

double parse_gib(const std::string& s, const char* option) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v < 0)
    throw ArgumentError(std::string(option) + ": '" + s + "' is not a non-negative number of GiB");
  return v;
}

}  // namespace

RunDevice parse_run_device(const std::string& s) {
  RunDevice d;
  if (s == "emu" || s.starts_with("emu:")) {
    d.device = Device::emu(0);
    d.emu_bytes = static_cast<std::uint64_t>((s == "emu" ? 8.0 : parse_gib(s.substr(4), "--device emu")) * kGiB);
    return d;
  }
  try {
    d.device = Device::parse(s);
  } catch (const ArgumentError& e) {
    throw ArgumentError(std::string("--device: ") + e.what());
  }
  return d;
}

std::uint64_t free_device_bytes(const RunDevice& device) {
  switch (device.device.kind) {
    case DeviceKind::emu:
      return device.emu_bytes;
    case DeviceKind::cuda:
#ifdef VRAMKIT_HAS_CUDA
      return cuda::device_info(device.device.index).free_bytes;
#else
      throw ArgumentError("--device " + device.device.str() + ": this build has no CUDA backend (build the cuda preset)");
#endif
    case DeviceKind::cpu:
      break;
  }
  throw ArgumentError("--vram-limit auto needs an accelerator, not --device cpu");
}

std::string device_name(const RunDevice& device) {
  switch (device.device.kind) {
    case DeviceKind::emu:
      return "emulated device, " + human_bytes(device.emu_bytes);
    case DeviceKind::cpu:
      return "host CPU";
    case DeviceKind::cuda:
#ifdef VRAMKIT_HAS_CUDA
      return cuda::device_info(device.device.index).name;
#else
      break;
#endif
  }
  throw ArgumentError("--device " + device.device.str() +
                      ": this build has no CUDA backend (build the cuda preset)");
}

std::shared_ptr<Accelerator> make_accelerator(const RunDevice& device) {
  switch (device.device.kind) {
    case DeviceKind::emu:
      return std::make_shared<EmuAccelerator>(EmuOptions{device.emu_bytes, 0, 0});
    case DeviceKind::cpu: {
      const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
      const std::uint64_t ram = pages > 0 && page_size > 0 ? static_cast<std::uint64_t>(pages) * page_size
                                                           : std::uint64_t{16} << 30;
      return std::make_shared<EmuAccelerator>(EmuOptions{ram, 0, 0});
    }
    case DeviceKind::cuda: {
#ifdef VRAMKIT_HAS_CUDA
      const std::uint64_t free = free_device_bytes(device);
      return std::make_shared<CudaAccelerator>(device.device.index, free > kAutoMargin ? free - kAutoMargin : 0);
#else
      break;
#endif
    }
  }
  throw ArgumentError("--device " + device.device.str() + ": this build has no CUDA backend (build the cuda preset)");
}

VramSettings resolve_vram_arguments(const VramArguments& args, std::string_view component) {
  VramSettings s;
  s.device = parse_run_device(args.device);
  s.config = VramConfig::preset(args.offload);
  if (!args.vram_config.empty()) {
    const VramConfig file = VramConfig::from_json_file_for(args.vram_config, component);
    const auto take = [](auto& to, const auto& from) {
      if (from) to = from;
    };
    take(s.config.offload_dtype, file.offload_dtype);
    take(s.config.offload_device, file.offload_device);
    take(s.config.onload_dtype, file.onload_dtype);
    take(s.config.onload_device, file.onload_device);
    take(s.config.preparing_dtype, file.preparing_dtype);
    take(s.config.preparing_device, file.preparing_device);
    take(s.config.computation_dtype, file.computation_dtype);
    take(s.config.computation_device, file.computation_device);
  }
  if (!args.storage_dtype.empty()) {
    if (args.storage_dtype != "bf16" && args.storage_dtype != "fp8")
      throw ArgumentError("--storage-dtype: '" + args.storage_dtype + "' is not bf16 or fp8");
    s.config = s.config.with_storage_dtype(parse_dtype(args.storage_dtype));
  }
  s.config.resolve();  // validate now, naming the key at fault
  std::string limit = args.vram_limit;
  if (limit.empty() && (args.offload == "dynamic" || args.offload == "disk")) limit = "auto";
  if (limit == "auto") {
    const std::uint64_t free = free_device_bytes(s.device);
    s.manager.vram_limit = free > kAutoMargin ? free - kAutoMargin : 0;
  } else if (!limit.empty()) {
    s.manager.vram_limit = static_cast<std::uint64_t>(parse_gib(limit, "--vram-limit") * kGiB);
  }
  s.manager.ring_slots = args.ring_slots;
  if (args.units != "leaf" && args.units != "block")
    throw ArgumentError("--units: '" + args.units + "' is not leaf or block");
  s.manager.block_units = args.units == "block";
  s.manager.direct_io = parse_direct_io(args.direct_io, "--direct-io");
  s.manager.native_fp8_gemm = args.native_fp8_gemm;
  if (!std::isfinite(args.lookahead_mib) || args.lookahead_mib < 0)
    throw ArgumentError("--lookahead-mib: " + std::to_string(args.lookahead_mib) + " is not a non-negative number of MiB");
  s.manager.lookahead_bytes = static_cast<std::uint64_t>(args.lookahead_mib * 1024 * 1024);
  return s;
}

}  // namespace vramkit
