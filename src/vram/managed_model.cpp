#include "vram/managed_model.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "vram/blob_fill.h"
#include "core/human_bytes.h"
#include "vramkit/error.h"
#include "vramkit/log.h"

namespace vramkit {
namespace {

bool same_layout(const BlobLayout& a, const BlobLayout& b) {
  if (a.bytes != b.bytes || a.tensors.size() != b.tensors.size()) return false;
  for (std::size_t i = 0; i < a.tensors.size(); ++i)
    if (a.tensors[i].dtype != b.tensors[i].dtype || a.tensors[i].offset != b.tensors[i].offset ||
        a.tensors[i].scaled != b.tensors[i].scaled)
      return false;
  return true;
}


}  // namespace

UnitLease::UnitLease(UnitLease&& other) noexcept
    : model_(std::exchange(other.model_, nullptr)),
      unit_(other.unit_),
      sequence_(other.sequence_),
      in_use_(std::move(other.in_use_)),
      tensors_(std::move(other.tensors_)),
      scales_(std::move(other.scales_)) {}

UnitLease& UnitLease::operator=(UnitLease&& other) noexcept {
  if (this != &other) {
    if (model_) model_->release(*this);
    model_ = std::exchange(other.model_, nullptr);
    unit_ = other.unit_;
    sequence_ = other.sequence_;
    in_use_ = std::move(other.in_use_);
    tensors_ = std::move(other.tensors_);
    scales_ = std::move(other.scales_);
  }
  return *this;
}

UnitLease::~UnitLease() {
  if (model_) model_->release(*this);
}

std::size_t UnitLease::index_of(std::string_view name) const {
  const auto& sources = model_->units()[unit_].sources;
  for (std::size_t i = 0; i < sources.size(); ++i)
    if (sources[i]->name() == name) return i;
  throw ArgumentError("unit " + model_->units()[unit_].name + " has no tensor " + std::string(name));
}

const Tensor& UnitLease::get(std::string_view name) const {
  return tensors_[index_of(name)];
}

const Tensor& UnitLease::scale(std::string_view name) const {
  return scales_[index_of(name)];
}

ManagedModel::ManagedModel(VramManager& manager, std::string name, std::shared_ptr<const WeightFiles> files,
                           std::vector<UnitSpec> units, const VramConfig& config, ModelOptions options)
    : manager_(manager),
      acc_(manager.accelerator()),
      name_(std::move(name)),
      files_(std::move(files)),
      config_(config.resolve()),
      options_(std::move(options)) {
  if (!files_) throw ArgumentError("model " + name_ + ": no weight files");
  if (config_.computation.device.kind != Placement::Kind::accelerator)
    throw ArgumentError("model " + name_ + ": the VRAM manager runs models whose computation_device is the accelerator");
  if (config_.onload.device.kind == Placement::Kind::disk)
    disk_ = std::make_unique<DiskSource>(*files_, manager.options().direct_io);
  const LayoutPolicy policy{config_,     manager.options().fp8_scaling,     options_.sensitive,
                            disk_.get(), manager.options().native_fp8_gemm, options_.gemm_weight};
  for (const auto& spec : units) layouts_.push_back(make_unit_layout(spec, *files_, policy));
  host_blobs_.assign(layouts_.size(), nullptr);
  resident_.assign(layouts_.size(), nullptr);
  if (!options_.record_order) {
    for (std::size_t u = 0; u < layouts_.size(); ++u) order_.push_back(u);
    order_known_ = true;
  }
}

bool ManagedModel::native_fp8_gemm() const {
  return manager_.options().native_fp8_gemm;
}

bool ManagedModel::device_kernels() const {
  return manager_.device_kernels();
}

ManagedModel::~ManagedModel() {
  try {
    offload();
  } catch (const std::exception& e) {
    log_error("model " + name_ + ": offload at destruction failed: " + e.what());
  }
  // Whatever offload() keeps (host copies, resident buffers of a model that lives on the device) goes now.
  for (std::size_t u = 0; u < layouts_.size(); ++u) {
    if (host_blobs_[u]) acc_.pinned_allocator()->deallocate(host_blobs_[u], layouts_[u].stream.bytes);
    if (resident_[u])
      acc_.device_allocator()->deallocate(resident_[u], layouts_[u].resident.bytes, MemoryUse::weights);
  }
}

std::size_t ManagedModel::unit_index(std::string_view name) const {
  for (std::size_t i = 0; i < layouts_.size(); ++i)
    if (layouts_[i].name == name) return i;
  throw ArgumentError("model " + name_ + " has no unit " + std::string(name));
}

std::uint64_t ManagedModel::device_bytes_of_others() const {
  std::uint64_t mine = 0;
  for (std::size_t u = 0; u < layouts_.size(); ++u)
    if (resident_[u]) mine += layouts_[u].resident.bytes;
  return acc_.device_allocator()->allocated_bytes() - mine + manager_.reserved_workspace_of_others(*this);
}

Plan ManagedModel::make_plan() const {
  // The budget is what the other onloaded models leave.
  std::optional<std::uint64_t> limit = manager_.options().vram_limit;
  if (limit) {
    const std::uint64_t others = device_bytes_of_others();
    limit = *limit > others ? *limit - others : 0;
  }
  return plan_residency(
      make_plan_request(layouts_, config_, limit, options_.workspace_bytes, manager_.options().ring_slots,
                        manager_.options().lookahead_bytes));
}

void ManagedModel::onload() {
  if (onloaded_) return;
  plan_ = make_plan();
  if (plan_.over_limit_bytes > 0)
    log_warn("model " + name_ + ": the smallest configuration (streaming ring + workspace) exceeds the VRAM limit by " +
             human_bytes(plan_.over_limit_bytes) + "; running above the limit");
  // The budget is a hard cap on the device arena, widened only by what the plans say they must exceed it by
  // (this one's, and those of other onloaded models that already run above it).
  if (const auto& limit = manager_.options().vram_limit)
    acc_.device_allocator()->set_cap(std::max(*limit, device_bytes_of_others() + plan_.peak_device_bytes));
  manager_.set_reserved_workspace(*this, plan_.workspace_bytes);
  recording_ = !order_known_;
  if (recording_) order_.clear();
  passes_left_ = announced_passes_ > 0 ? announced_passes_ : -1;
  announced_passes_ = 0;
  try {
    build_staged();
    build_host_copies();
    upload_residents();
    start_streaming();
  } catch (...) {
    // A failed onload (out of device or pinned memory, a file that cannot be read) gives back what it took,
    // as offload() would, so that the caller can retry or run something else on the device.
    onloaded_ = true;
    try {
      offload();
    } catch (...) {  // the first failure is the one to report
    }
    throw;
  }
  onloaded_ = true;
}

void ManagedModel::reserve_workspace(std::uint64_t bytes) {
  if (bytes <= options_.workspace_bytes) return;
  options_.workspace_bytes = bytes;
  if (!onloaded_) return;
  log_info("model " + name_ + ": planned again for " + human_bytes(bytes) + " of activations");
  offload();
  onload();
}

bool ManagedModel::needs_staging(std::size_t unit) const {
  return plan_.placement[unit] == UnitPlacement::streamed || layouts_[unit].compute_from_resident.bytes > 0;
}

void ManagedModel::build_staged() {
  staged_.clear();
  disk_staged_.clear();
  disk_index_.clear();
  if (recording_) return;  // acquire() stages each unit itself
  for (std::size_t u : order_) {
    if (!needs_staging(u)) continue;
    const bool streamed = plan_.placement[u] == UnitPlacement::streamed;
    disk_index_.push_back(streamed && layouts_[u].stream_from_disk ? static_cast<std::int64_t>(disk_staged_.size()) : -1);
    if (disk_index_.back() >= 0) disk_staged_.push_back(staged_.size());
    staged_.push_back(u);
  }
}

void ManagedModel::finish_recording() {
  recording_ = false;
  order_known_ = true;
  if (passes_left_ > 0) --passes_left_;  // the recorded pass was one of them
  stop_streaming();
  build_staged();
  start_streaming();
}

void ManagedModel::build_host_copies() {
  const bool keep_all = config_.offload.device.kind == Placement::Kind::cpu;
  for (std::size_t u = 0; u < layouts_.size(); ++u) {
    const auto& l = layouts_[u];
    const bool streamed_from_ram = plan_.placement[u] == UnitPlacement::streamed && !l.stream_from_disk;
    if (host_blobs_[u] || !(streamed_from_ram || (keep_all && !l.stream_from_disk))) continue;
    host_blobs_[u] = acc_.pinned_allocator()->allocate(l.stream.bytes, kBlobAlignment);
    fill_blob_from_files(l, l.stream, *files_, host_blobs_[u]);
  }
}

void ManagedModel::upload_residents() {
  auto& compute = acc_.compute_stream();
  for (std::size_t u = 0; u < layouts_.size(); ++u) {
    const auto& l = layouts_[u];
    if (plan_.placement[u] != UnitPlacement::resident || resident_[u]) continue;
    resident_[u] = acc_.device_allocator()->allocate(l.resident.bytes, kBlobAlignment, MemoryUse::weights);
    if (host_blobs_[u] && same_layout(l.stream, l.resident)) {
      compute.copy(resident_[u], host_blobs_[u], l.resident.bytes);
      compute.synchronize();
    } else {
      // Convert in a transient host buffer, one unit at a time, so the peak host cost is one unit.
      void* staging = acc_.pinned_allocator()->allocate(l.resident.bytes, kBlobAlignment);
      fill_blob_from_files(l, l.resident, *files_, staging);
      compute.copy(resident_[u], staging, l.resident.bytes);
      compute.synchronize();
      acc_.pinned_allocator()->deallocate(staging, l.resident.bytes);
      if (l.stream_from_disk) {
        std::uint64_t file_bytes = 0;
        for (const auto* t : l.sources) file_bytes += t->bytes();
        manager_.telemetry().add_disk_bytes(file_bytes);
      }
    }
    manager_.telemetry().add_h2d_bytes(l.resident.bytes);
  }
}

void ManagedModel::offload() {
  if (!onloaded_) return;
  {
    std::lock_guard lock(mutex_);
    if (outstanding_ > 0)
      throw ArgumentError("model " + name_ + ": offload() while " + std::to_string(outstanding_) +
                          " unit lease(s) are still held");
  }
  // A recorded pass ends here too: a model run once per onload (a text encoder) records its order once.
  if (recording_ && !order_.empty()) {
    recording_ = false;
    order_known_ = true;
  }
  stop_streaming();
  if (config_.offload.device.kind != Placement::Kind::accelerator) {
    for (std::size_t u = 0; u < layouts_.size(); ++u) {
      if (!resident_[u]) continue;
      acc_.device_allocator()->deallocate(resident_[u], layouts_[u].resident.bytes, MemoryUse::weights);
      resident_[u] = nullptr;
    }
  }
  if (config_.offload.device.kind != Placement::Kind::cpu) {
    for (std::size_t u = 0; u < layouts_.size(); ++u) {
      if (!host_blobs_[u]) continue;
      acc_.pinned_allocator()->deallocate(host_blobs_[u], layouts_[u].stream.bytes);
      host_blobs_[u] = nullptr;
    }
  }
  manager_.set_reserved_workspace(*this, 0);
  onloaded_ = false;
}

UnitLease ManagedModel::acquire(std::size_t unit) {
  if (!onloaded_) throw ArgumentError("model " + name_ + ": acquire() before onload()");
  if (unit >= layouts_.size())
    throw ArgumentError("model " + name_ + ": unit index " + std::to_string(unit) + " out of range");
  const auto& l = layouts_[unit];
  if (recording_) {
    // A unit acquired again begins the second pass: the order is complete, and streaming starts in it.
    if (std::find(order_.begin(), order_.end(), unit) == order_.end()) {
      order_.push_back(unit);
    } else {
      {
        std::lock_guard lock(mutex_);
        if (outstanding_ > 0)
          throw ArgumentError("model " + name_ + ": unit " + l.name + " begins the second pass while " +
                              std::to_string(outstanding_) + " lease(s) of the recorded first pass are held; " +
                              "release them before the pass ends");
      }
      finish_recording();
    }
  }
  UnitLease lease;
  lease.model_ = this;
  lease.unit_ = unit;
  manager_.telemetry().add_acquire();
  Stream& compute = acc_.compute_stream();
  TraceRecorder* trace = manager_.trace();
  // A unit that needs staging but is not in the recorded order fails the order check below.
  if (!needs_staging(unit)) {
    fill_views(lease, l.resident, static_cast<const char*>(resident_[unit]), nullptr);
    if (trace) lease.in_use_ = trace->begin(compute);
    return lease;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const TraceRecorder::StreamSpan wait = trace ? trace->begin(compute) : TraceRecorder::StreamSpan{};
  std::int64_t sequence;
  bool staged_here = false;
  {
    std::unique_lock lock(mutex_);
    if (outstanding_ >= manager_.options().ring_slots)
      throw ArgumentError("model " + name_ + ": unit " + l.name + " would be the " + std::to_string(outstanding_ + 1) +
                          "th streamed unit held at once, but ring_slots is " +
                          std::to_string(manager_.options().ring_slots) + "; release leases sooner or raise ring_slots");
    sequence = next_sequence_;
    // (A recorded order may hold no staged unit at all: a first pass that acquired only in-place residents.)
    const std::size_t* expected =
        staged_.empty() ? nullptr : &staged_[static_cast<std::size_t>(sequence) % staged_.size()];
    if (!recording_ && (!expected || *expected != unit))
      throw ArgumentError("model " + name_ + ": unit " + l.name + " acquired out of the " +
                          (options_.record_order ? "recorded" : "declared") + " execution order; expected " +
                          (expected ? layouts_[*expected].name : std::string("no streamed unit")));
    ++next_sequence_;
    ++outstanding_;
    lease.sequence_ = sequence;
    if (!recording_) {
      // Beyond the announced passes the copy thread has stopped: wait until it has staged its last
      // unit, then stage this one here.
      const bool past_limit = sequence_limit_ >= 0 && sequence >= sequence_limit_;
      cv_.wait(lock, [&] {
        return published_ > sequence || (past_limit && published_ >= sequence_limit_) || worker_error_;
      });
      if (worker_error_) std::rethrow_exception(worker_error_);
      staged_here = past_limit;
    }
  }
  if (staged_here && sequence == sequence_limit_)
    log_warn("model " + name_ +
             ": a forward pass beyond the announced ones (announce_passes): its units are " +
             "copied on demand, without prefetch");
  if (recording_ || staged_here) stage_now(sequence, unit);
  const Allocation& staged = allocations_[static_cast<std::size_t>(sequence) % allocations_.size()];
  compute.wait(*staged.ready);
  manager_.telemetry().add_wait(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (trace) {
    trace->end(compute, wait, "compute", "wait " + l.name);
    lease.in_use_ = trace->begin(compute);
  }
  const char* dev = ring_ + staged.offset;
  if (resident_[unit]) {
    fill_views(lease, l.resident, static_cast<const char*>(resident_[unit]), dev);
  } else {
    fill_views(lease, l.stream, dev, dev + l.stream.bytes);
  }
  return lease;
}

void ManagedModel::announce_passes(std::int64_t passes) {
  if (passes < 1)
    throw ArgumentError("model " + name_ + ": announce_passes(" + std::to_string(passes) +
                        "): at least one pass");
  if (!onloaded_) {
    announced_passes_ = passes;
    return;
  }
  {
    std::lock_guard lock(mutex_);
    const bool midway = outstanding_ > 0 || (recording_ && !order_.empty()) ||
                        (!staged_.empty() && next_sequence_ % static_cast<std::int64_t>(staged_.size()) != 0);
    if (midway) throw ArgumentError("model " + name_ + ": announce_passes() in the middle of a forward pass");
  }
  passes_left_ = passes;
  stop_streaming();
  start_streaming();
}

void ManagedModel::rewind() {
  if (!onloaded_) return;
  {
    std::lock_guard lock(mutex_);
    if (outstanding_ > 0)
      throw ArgumentError("model " + name_ + ": rewind() while " + std::to_string(outstanding_) +
                          " streamed leases are held");
  }
  if (recording_) order_.clear();  // the partial pass is recorded again
  // The passes completed since streaming started are spent; the one abandoned midway runs again.
  if (passes_left_ > 0 && !staged_.empty())
    passes_left_ =
        std::max<std::int64_t>(passes_left_ - next_sequence_ / static_cast<std::int64_t>(staged_.size()), 0);
  stop_streaming();
  start_streaming();
}

void ManagedModel::release(UnitLease& lease) {
  lease.model_ = nullptr;
  if (TraceRecorder* trace = manager_.trace(); trace && lease.in_use_.start_us)
    trace->end(acc_.compute_stream(), lease.in_use_, "compute", layouts_[lease.unit_].name);
  if (lease.sequence_ < 0) return;
  Allocation& staged = allocations_[static_cast<std::size_t>(lease.sequence_) % allocations_.size()];
  acc_.compute_stream().record(*staged.released);
  {
    std::lock_guard lock(mutex_);
    staged.released_sequence = std::max(staged.released_sequence, lease.sequence_);
    --outstanding_;
    ++released_count_;
  }
  cv_.notify_all();
}

void ManagedModel::fill_views(UnitLease& lease, const BlobLayout& from, const char* src,
                              const char* compute) const {
  const auto& l = layouts_[lease.unit_];
  const BlobLayout& upcast = &from == &l.stream ? l.compute_from_stream : l.compute_from_resident;
  const auto view = [&](const char* p, const Shape& shape, DType dtype) {
    const auto bytes = static_cast<std::size_t>(shape.numel()) * dtype_size(dtype);
    return Tensor::from_storage(Storage::external(const_cast<char*>(p), bytes, acc_.device(), nullptr), 0,
                                shape, dtype);
  };
  lease.tensors_.clear();
  lease.scales_.clear();
  for (std::size_t i = 0; i < l.sources.size(); ++i) {
    const BlobTensor& f = from.tensors[i];
    const BlobTensor& c = upcast.tensors[i];
    const bool converted = c.bytes > 0;
    lease.tensors_.push_back(view(converted ? compute + c.offset : src + f.offset, l.sources[i]->shape(),
                                  converted ? c.dtype : f.dtype));
    // Scaled codes handed out as they are (native_fp8_gemm) carry their scales; upcast ones have them
    // applied.
    lease.scales_.push_back(
        f.scaled && !converted
            ? view(src + f.scale_offset, Shape{static_cast<std::int64_t>(f.rows)}, DType::f32)
            : Tensor());
  }
}

void ManagedModel::upcast(Stream& stream, const BlobLayout& from, const BlobLayout& to, const char* src,
                          char* dst) const {
  for (std::size_t i = 0; i < from.tensors.size(); ++i) {
    const BlobTensor& f = from.tensors[i];
    const BlobTensor& t = to.tensors[i];
    if (t.bytes == 0) continue;
    if (f.scaled) {
      stream.dequantize(src + f.offset, f.dtype, dst + t.offset, t.dtype, f.rows, f.cols,
                        reinterpret_cast<const float*>(src + f.scale_offset));
    } else {
      stream.convert(src + f.offset, f.dtype, dst + t.offset, t.dtype, f.rows * f.cols);
    }
  }
}

}  // namespace vramkit
