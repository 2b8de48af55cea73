// The VRAM options every command that runs (or plans) a model accepts, as CLI11 options over VramArguments
// (vram/run_settings.h explains each and resolves them).
#pragma once

#include <string>

#include "vram/run_settings.h"
#include "vramkit/pipeline.h"

namespace CLI {
class App;
}

namespace vramkit::cli {

using vramkit::free_device_bytes;
using vramkit::make_accelerator;
using vramkit::parse_run_device;
using vramkit::resolve_vram_arguments;
using vramkit::RunDevice;
using vramkit::VramArguments;
using vramkit::VramSettings;

void add_vram_arguments(CLI::App& command, VramArguments& args);
// The same without the placement (--offload, --storage-dtype, --vram-limit): for commands that set those
// themselves, as `bench` does per mode.
void add_device_arguments(CLI::App& command, VramArguments& args);
// The pipeline API's form of the VRAM options, for the model folder (or builtin:tiny) `model`.
PipelineConfig pipeline_config(const std::string& model, const VramArguments& args);

}  // namespace vramkit::cli
