#include "vram/manager.h"

#include "vram/managed_model.h"
#include "vramkit/error.h"

namespace vramkit {

VramManager::VramManager(std::shared_ptr<Accelerator> accelerator, ManagerOptions options)
    : accelerator_(std::move(accelerator)), options_(options) {
  if (!accelerator_) throw ArgumentError("VramManager: no accelerator");
  if (options_.ring_slots < 1) throw ArgumentError("VramManager: ring_slots must be at least 1");
  if (options_.disk_threads < 1 || options_.disk_buffers < 1)
    throw ArgumentError("VramManager: disk_threads and disk_buffers must be at least 1");
  h2d_ = accelerator_->create_stream("h2d");
  if (options_.trace) trace_ = std::make_unique<TraceRecorder>();
}

VramManager::~VramManager() = default;

std::unique_ptr<ManagedModel> VramManager::add_model(std::string name, std::shared_ptr<const WeightFiles> files,
                                                     std::vector<UnitSpec> units, const VramConfig& config,
                                                     ModelOptions options) {
  return std::make_unique<ManagedModel>(*this, std::move(name), std::move(files), std::move(units), config,
                                        std::move(options));
}

bool VramManager::device_kernels() const {
  return options_.plan_device_kernels || accelerator_->device_ops() != nullptr;
}

TelemetrySnapshot VramManager::snapshot() const {
  TelemetrySnapshot s = telemetry_.counters();
  const Allocator& device = *accelerator_->device_allocator();
  s.peak_device_bytes = device.peak_bytes();
  s.peak_resident_bytes = device.peak_bytes(MemoryUse::weights);
  s.peak_staging_bytes = device.peak_bytes(MemoryUse::staging);
  s.peak_activation_bytes = device.peak_bytes(MemoryUse::other);
  s.resident_bytes = device.allocated_bytes(MemoryUse::weights);
  s.staging_bytes = device.allocated_bytes(MemoryUse::staging);
  s.pinned_bytes = accelerator_->pinned_allocator()->allocated_bytes();
  return s;
}

void VramManager::reset_telemetry() {
  telemetry_.reset();
  accelerator_->device_allocator()->reset_peak();
}

void VramManager::set_reserved_workspace(const ManagedModel& model, std::uint64_t bytes) {
  if (bytes == 0) {
    reserved_workspaces_.erase(&model);
  } else {
    reserved_workspaces_[&model] = bytes;
  }
}

std::uint64_t VramManager::reserved_workspace_of_others(const ManagedModel& model) const {
  std::uint64_t total = 0;
  for (const auto& [m, bytes] : reserved_workspaces_)
    if (m != &model) total += bytes;
  return total;
}

}  // namespace vramkit
