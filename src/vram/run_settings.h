// How a run places its models, from the settings users give as text (the CLI's VRAM options, the pipeline
// API's PipelineConfig): the accelerator, the VramConfig preset with overrides, the storage dtype, the
// budget.
//   device         cpu | cuda[:N] | emu[:GiB]   (emu: the emulated device with that much VRAM, default 8)
//   offload        none | cpu | fp8 | dynamic | disk   (DiffSynth-Studio's configurations)
//   storage_dtype  bf16 | fp8                   (the dtype of offload/onload/preparing)
//   vram_limit     GiB | auto                   (auto = free VRAM - 0.5 GiB; dynamic and disk default to
//   auto) vram_config    a JSON file with the eight keys, overriding the preset key by key: one object for
//   every
//                  component, or one object per component name ({"transformer": {...}, "vae": {...}})
//   ring_slots     staged leases a model may hold at once
//   units          leaf | block: one managed unit per leaf module, or per transformer block / decoder layer
//   lookahead_mib  the staging ring's size in MiB (0 = the minimum for ring_slots; planner.h)
//   direct_io      auto | on | off              (O_DIRECT disk reads, vram/disk_reads.h)
//   native_fp8_gemm  the GEMM weights stored in fp8 multiply natively in fp8 (ops::fp8_linear: activations
//                  quantized per row) instead of being upcast to the computation dtype; off by default
//                  (ManagerOptions::native_fp8_gemm, docs/vram.md "Precision")
// Errors name the option (as the CLI spells it) and the value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "backends/accelerator.h"
#include "core/device.h"
#include "vram/manager.h"
#include "vram/vram_config.h"

namespace vramkit {

struct VramArguments {
  std::string device = "cuda";
  std::string offload = "none";
  std::string storage_dtype;
  std::string vram_limit;
  std::string vram_config;
  int ring_slots = 2;
  std::string units = "leaf";
  double lookahead_mib = 0;
  std::string direct_io = "auto";
  bool native_fp8_gemm = false;
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

// "cpu", "cuda", "cuda:N", "emu", "emu:GiB". Throws ArgumentError naming --device.
RunDevice parse_run_device(const std::string& s);
// Free memory of the run's accelerator (cuda: the driver's figure; emu: its size). Throws ArgumentError for cpu
// or a build without CUDA.
std::uint64_t free_device_bytes(const RunDevice& device);
// What the device is, for reports: the GPU's name (cuda), "emulated device, N GiB" (emu), "host CPU" (cpu).
std::string device_name(const RunDevice& device);
// The accelerator a run uses: emu (the emulated device with its size), cuda:N (an arena of the device's free
// memory less 0.5 GiB), or cpu (the emulated device sized to the host's RAM, copies unthrottled: "device"
// memory is host memory there, so the VRAM options keep their meaning and their accounting).
std::shared_ptr<Accelerator> make_accelerator(const RunDevice& device);
// Validates and combines the arguments for the model `component` (which picks its object from a per-component
// vram_config file; empty: the file must be one object for every component).
VramSettings resolve_vram_arguments(const VramArguments& args, std::string_view component = {});

}  // namespace vramkit
