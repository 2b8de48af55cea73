// The VRAM options every command that runs (or plans) a model accepts:
//   --device cpu|cuda[:N]|emu[:GiB]   the accelerator (emu: the emulated device with that much VRAM, default 8)
//   --offload none|cpu|fp8|dynamic|disk   a DiffSynth-Studio configuration (default none)
//   --storage-dtype bf16|fp8           the storage dtype of offload/onload/preparing
//   --vram-limit GiB|auto              the budget (auto = free VRAM - 0.5 GiB; dynamic and disk default to auto)
//   --vram-config FILE.json            the eight keys, overriding the preset key by key
//   --ring-slots N                     streaming buffers in flight (default 2)
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "backends/accelerator.h"
#include "core/device.h"
#include "vram/manager.h"
#include "vram/vram_config.h"

namespace CLI {
class App;
}

namespace vramkit::cli {

struct VramArguments {
  std::string device = "cuda";
  std::string offload = "none";
  std::string storage_dtype;
  std::string vram_limit;
  std::string vram_config;
  int ring_slots = 2;
};

struct RunDevice {
  Device device;                // cpu, cuda:N or emu:0
  std::uint64_t emu_bytes = 0;  // the emulated VRAM
};

struct VramSettings {
  RunDevice device;
  VramConfig config;
  ManagerOptions manager;
};

void add_vram_arguments(CLI::App& command, VramArguments& args);

// "cpu", "cuda", "cuda:N", "emu", "emu:GiB". Throws ArgumentError naming --device.
RunDevice parse_run_device(const std::string& s);
// Free memory of the run's accelerator (cuda: the driver's figure; emu: its size). Throws ArgumentError for cpu
// or a build without CUDA.
std::uint64_t free_device_bytes(const RunDevice& device);
// The accelerator a run uses: emu (the emulated device with its size), cuda:N (an arena of the device's free
// memory less 0.5 GiB), or cpu (the emulated device sized to the host's RAM, copies unthrottled: "device"
// memory is host memory there, so the VRAM options keep their meaning and their accounting).
std::shared_ptr<Accelerator> make_accelerator(const RunDevice& device);
// Validates and combines the arguments. Errors name the option and the value.
VramSettings resolve_vram_arguments(const VramArguments& args);

}  // namespace vramkit::cli
