// The VRAM manager: owns the accelerator's budget, the copy stream and the telemetry, and creates one
// ManagedModel per pipeline component. See docs/vram.md for the states, the planner and the event ordering.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/accelerator.h"
#include "io/model_files.h"
#include "vram/disk_reads.h"
#include "vram/fp8_scaling.h"
#include "vram/telemetry.h"
#include "vram/trace.h"
#include "vram/unit_layout.h"
#include "vram/vram_config.h"

namespace vramkit {

class ManagedModel;

struct ManagerOptions {
  std::optional<std::uint64_t> vram_limit;  // bytes; unset = no limit
  int ring_slots = 2;                       // staged leases a model may hold at once
  std::uint64_t lookahead_bytes = 0;        // the staging ring's bytes (planner.h staging_ring_bytes); 0 = minimum
  Fp8Scaling fp8_scaling = Fp8Scaling::per_channel;
  int disk_threads = 4;                     // pread workers of the disk tier
  int disk_buffers = 4;                     // pinned staging buffers of the disk tier (read-ahead depth)
  DirectIo direct_io = DirectIo::automatic;  // O_DIRECT disk reads (vram/disk_reads.h)
  bool trace = false;                       // record a Chrome trace of the streams (trace())
  // Models group each transformer block's (decoder layer's) leaf modules into one unit: fewer, larger copies,
  // a block's bytes in the staging ring. Models without blocks keep their leaf units.
  bool block_units = false;
  // The GEMM weights stored in the same fp8 dtype whether streamed or resident stay fp8 on the device: the
  // lease hands out their fp8 bytes (and per-row scales, UnitLease::scale) in place, and the models multiply
  // with ops::fp8_linear (activations quantized per row) instead of upcasting to the computation dtype first.
  bool native_fp8_gemm = false;
  // The models' workspace estimates price a device's own kernels (ManagedModel::device_kernels) although the
  // accelerator runs the CPU kernels: planning a GPU run on the emulated stand-in (`vramkit plan`).
  bool plan_device_kernels = false;
};

struct ModelOptions {
  std::uint64_t workspace_bytes = 0;  // activations of the model's largest step, reserved from the budget
  // Tensors kept in the computation dtype rather than fp8 (default: rank < 2 — biases, norm weights).
  std::function<bool(const WeightTensor&)> sensitive;
  // The weights only ever used as the weight of a linear (ops::linear / ops::fp8_linear), which
  // ManagerOptions::native_fp8_gemm may hand out in fp8 (default: is_default_gemm_weight). A model whose
  // units hold other rank-2 ".weight" tensors (an embedding table read through a lease) passes its own.
  std::function<bool(const WeightTensor&)> gemm_weight;
  // The units are not given in execution order: the first pass acquires them on demand (each copied
  // synchronously) and records the order, which later passes prefetch in (see ManagedModel).
  bool record_order = false;
};

class VramManager {
 public:
  VramManager(std::shared_ptr<Accelerator> accelerator, ManagerOptions options);
  ~VramManager();
  VramManager(const VramManager&) = delete;
  VramManager& operator=(const VramManager&) = delete;

  // A model whose units (in execution order, unless options.record_order) come from `files`; nothing is
  // loaded until onload().
  // Throws ArgumentError for a unit naming a missing tensor or an invalid config.
  std::unique_ptr<ManagedModel> add_model(std::string name, std::shared_ptr<const WeightFiles> files,
                                          std::vector<UnitSpec> units, const VramConfig& config,
                                          ModelOptions options = {});

  Accelerator& accelerator() { return *accelerator_; }
  const ManagerOptions& options() const { return options_; }
  // Whether the models' forwards run a device's own kernels (ops::DeviceOps: CUDA), or are planned as if
  // (ManagerOptions::plan_device_kernels), rather than the CPU kernels: what workspace estimates price.
  bool device_kernels() const;
  Telemetry& telemetry() { return telemetry_; }
  // The trace of the compute and copy streams and the disk readers; null unless ManagerOptions::trace.
  TraceRecorder* trace() { return trace_.get(); }
  // Counters plus the current memory figures.
  TelemetrySnapshot snapshot() const;
  // Starts the counters and the device's peaks (total and per kind) again, from what is live now: each
  // generation or benchmark mode reports its own.
  void reset_telemetry();
  // The copy stream every model's transfers use (one copy engine, in execution order).
  Stream& h2d_stream() { return *h2d_; }

  // The activations the plan of each onloaded model reserved (0 forgets a model): they count against the
  // budget of a model onloaded beside it even while they are not allocated (ManagedModel::onload).
  void set_reserved_workspace(const ManagedModel& model, std::uint64_t bytes);
  std::uint64_t reserved_workspace_of_others(const ManagedModel& model) const;

 private:
  std::shared_ptr<Accelerator> accelerator_;
  ManagerOptions options_;
  Telemetry telemetry_;
  std::unique_ptr<TraceRecorder> trace_;
  std::unique_ptr<Stream> h2d_;
  std::map<const ManagedModel*, std::uint64_t> reserved_workspaces_;
};

}  // namespace vramkit
