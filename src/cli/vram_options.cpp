#include "cli/vram_options.h"

#include <CLI/CLI.hpp>

namespace vramkit::cli {

void add_device_arguments(CLI::App& command, VramArguments& args) {
  command.add_option("--device", args.device, "cpu, cuda, cuda:N, or emu[:GiB] (the emulated accelerator)")
      ->capture_default_str();
  command.add_option("--vram-config", args.vram_config, "a JSON file with the eight VRAM config keys");
  command.add_option("--ring-slots", args.ring_slots, "streamed units a model may hold at once")->capture_default_str()->check(
      CLI::Range(1, 64));
  command.add_option("--units", args.units, "leaf or block: a managed unit per leaf module or per transformer block")
      ->capture_default_str();
  command.add_option("--direct-io", args.direct_io,
                     "auto, on or off: read disk-streamed weights with O_DIRECT (auto: where the filesystem allows)")
      ->capture_default_str();
  command.add_option("--lookahead-mib", args.lookahead_mib,
                     "MiB of VRAM for weights copied ahead of the computation (0: the minimum for --ring-slots)")
      ->capture_default_str();
}

void add_vram_arguments(CLI::App& command, VramArguments& args) {
  command.add_option("--offload", args.offload, "none, cpu, fp8, dynamic or disk (DiffSynth-Studio's modes)")
      ->capture_default_str();
  command.add_option("--storage-dtype", args.storage_dtype, "bf16 or fp8: the dtype weights are stored in");
  command.add_option("--vram-limit", args.vram_limit, "GiB of VRAM for weights and activations, or auto");
  command.add_flag(
      "--fp8-gemm", args.native_fp8_gemm,
      "multiply fp8-stored linear weights natively in fp8 (activations quantized per row; cuBLASLt "
      "on sm_89+) instead of upcasting them to bf16 first");
  add_device_arguments(command, args);
}

PipelineConfig pipeline_config(const std::string& model, const VramArguments& args) {
  PipelineConfig config;
  config.model = model;
  config.device = args.device;
  config.offload = args.offload;
  config.storage_dtype = args.storage_dtype;
  config.vram_limit = args.vram_limit;
  config.vram_config = args.vram_config;
  config.ring_slots = args.ring_slots;
  config.units = args.units;
  config.lookahead_mib = args.lookahead_mib;
  config.direct_io = args.direct_io;
  config.native_fp8_gemm = args.native_fp8_gemm;
  return config;
}

}  // namespace vramkit::cli
