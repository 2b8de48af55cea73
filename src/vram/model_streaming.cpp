// The streaming half of ManagedModel: the staging ring and disk buffers, the copy thread that fills the ring
// in execution order, and the disk readers that read units into pinned buffers ahead of it. The event protocol
// is described in managed_model.h.
#include <algorithm>

#include "vram/managed_model.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

// The most allocation records (and event pairs) a model keeps: enough for a ring full of small units, without
// an event pair per norm weight of a large model.
constexpr std::size_t kMaxAllocations = 1024;

}  // namespace

std::uint64_t ManagedModel::staging_need(std::size_t unit) const {
  const UnitLayout& l = layouts_[unit];
  return resident_[unit] ? l.compute_from_resident.bytes : l.staging_bytes();
}

void ManagedModel::start_streaming() {
  published_ = next_sequence_ = next_disk_job_ = 0;
  outstanding_ = 0;
  released_count_ = 0;
  stopping_ = false;
  worker_error_ = nullptr;
  live_.clear();
  ring_head_ = 0;
  sequence_limit_ = passes_left_ < 0 ? -1 : passes_left_ * static_cast<std::int64_t>(staged_.size());
  disk_job_limit_ = passes_left_ < 0 ? -1 : passes_left_ * static_cast<std::int64_t>(disk_staged_.size());
  if (staged_.empty() && !recording_) return;  // no unit needs staging
  ring_ = static_cast<char*>(
      acc_.device_allocator()->allocate(plan_.ring_bytes, kBlobAlignment, MemoryUse::staging));
  // The arena frees on the host at once, so the ring may lie over bytes that kernels still queued on the
  // compute stream read (another model's last activations: onload() syncs only when it uploads residents).
  // The h2d stream writes into the ring, so that work must be done first.
  acc_.compute_stream().synchronize();
  // As many records as the ring can hold of the smallest unit, so that bytes, not records, bound the
  // lookahead; at least ring_slots, so that the leases a model may hold never wait for each other's record.
  std::uint64_t smallest = plan_.ring_bytes;
  for (std::size_t u = 0; u < layouts_.size(); ++u)
    if (needs_staging(u)) smallest = std::max<std::uint64_t>(std::min(smallest, staging_need(u)), 1);
  const std::uint64_t fit = plan_.ring_bytes / smallest + 1;
  allocations_.resize(std::max(static_cast<std::size_t>(manager_.options().ring_slots),
                               static_cast<std::size_t>(std::min<std::uint64_t>(fit, kMaxAllocations))));
  for (auto& a : allocations_) {
    a.ready = acc_.create_event();
    a.released = acc_.create_event();
    a.released_sequence = -1;
  }
  disk_buffer_bytes_ = 0;
  for (std::size_t u = 0; u < layouts_.size(); ++u)
    if (plan_.placement[u] == UnitPlacement::streamed && layouts_[u].stream_from_disk)
      disk_buffer_bytes_ = std::max(disk_buffer_bytes_, layouts_[u].disk.buffer_bytes);
  if (disk_buffer_bytes_ > 0) {
    disk_buffers_.resize(static_cast<std::size_t>(manager_.options().disk_buffers));
    // Direct reads need the buffers aligned to the files' direct-I/O alignment.
    const std::uint64_t alignment = std::max(kBlobAlignment, disk_->buffer_alignment());
    for (auto& b : disk_buffers_) {
      b.host = acc_.pinned_allocator()->allocate(disk_buffer_bytes_, alignment);
      b.freed = acc_.create_event();
      b.read_job = b.copied_job = -1;
    }
  }
  if (staged_.empty()) return;  // recording: acquire() stages each unit itself
  if (!disk_staged_.empty()) {
    const int threads = std::min(manager_.options().disk_threads, manager_.options().disk_buffers);
    for (int i = 0; i < threads; ++i) readers_.emplace_back([this, i] { reader_loop(i); });
  }
  copier_ = std::thread([this] { copy_loop(); });
}

void ManagedModel::stop_streaming() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (copier_.joinable()) copier_.join();
  for (auto& r : readers_) r.join();
  readers_.clear();
  manager_.h2d_stream().synchronize();
  acc_.compute_stream().synchronize();
  if (ring_) {
    acc_.device_allocator()->deallocate(ring_, plan_.ring_bytes, MemoryUse::staging);
    ring_ = nullptr;
  }
  allocations_.clear();
  for (auto& b : disk_buffers_) acc_.pinned_allocator()->deallocate(b.host, disk_buffer_bytes_);
  disk_buffers_.clear();
}

std::int64_t ManagedModel::disk_job_of(std::int64_t sequence) const {
  const auto staged = static_cast<std::int64_t>(staged_.size());
  const auto disk = static_cast<std::int64_t>(disk_staged_.size());
  return (sequence / staged) * disk + disk_index_[static_cast<std::size_t>(sequence % staged)];
}

bool ManagedModel::place_in_ring(std::int64_t k, std::uint64_t need, Stream& h2d) {
  const auto records = static_cast<std::int64_t>(allocations_.size());
  const std::uint64_t offset = ring_head_ + need <= plan_.ring_bytes ? ring_head_ : 0;
  // The live allocations lie in ring order from the oldest, but the ones k's bytes overlap are not always a
  // prefix of them (placing k at the start can skip an old one at the end), so everything up to the last
  // overlapping one is reclaimed; also the one whose record k takes.
  std::size_t reclaim = 0;
  for (std::size_t i = 0; i < live_.size(); ++i) {
    const Allocation& a = allocations_[static_cast<std::size_t>(live_[i] % records)];
    if (live_[i] <= k - records || (a.offset < offset + need && offset < a.offset + a.bytes)) reclaim = i + 1;
  }
  for (; reclaim > 0; --reclaim) {
    const std::int64_t j = live_.front();
    Allocation& a = allocations_[static_cast<std::size_t>(j % records)];
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || a.released_sequence >= j; });
      if (stopping_) return false;
    }
    h2d.wait(*a.released);  // the computation that used those bytes is done with them
    live_.pop_front();
  }
  Allocation& a = allocations_[static_cast<std::size_t>(k % records)];
  a.offset = offset;
  a.bytes = need;
  ring_head_ = offset + need;
  live_.push_back(k);
  return true;
}

void ManagedModel::stage(std::int64_t k, std::size_t unit, DiskBuffer* buffer, Stream& h2d) {
  const UnitLayout& l = layouts_[unit];
  Allocation& staged = allocations_[static_cast<std::size_t>(k) % allocations_.size()];
  TraceRecorder* trace = manager_.trace();
  const TraceRecorder::StreamSpan span = trace ? trace->begin(h2d) : TraceRecorder::StreamSpan{};
  char* dev = ring_ + staged.offset;
  if (resident_[unit]) {
    upcast(h2d, l.resident, l.compute_from_resident, static_cast<const char*>(resident_[unit]), dev);
  } else {
    if (buffer) {
      // Each tensor from where its aligned read put it in the buffer, to its place in the stream layout.
      for (std::size_t i = 0; i < l.sources.size(); ++i)
        if (l.stream.tensors[i].bytes > 0)
          h2d.copy(dev + l.stream.tensors[i].offset, static_cast<const char*>(buffer->host) + l.disk.tensor_offsets[i],
                   l.stream.tensors[i].bytes);
      h2d.record(*buffer->freed);
    } else {
      h2d.copy(dev, host_blobs_[unit], l.stream.bytes);
    }
    manager_.telemetry().add_h2d_bytes(l.stream_copy_bytes());
    upcast(h2d, l.stream, l.compute_from_stream, dev, dev + l.stream.bytes);
  }
  if (trace) trace->end(h2d, span, "copy h2d", l.name);  // before `ready`: the span ends before use
  h2d.record(*staged.ready);
}

void ManagedModel::stage_now(std::int64_t k, std::size_t unit) {
  Stream& h2d = manager_.h2d_stream();
  place_in_ring(k, staging_need(unit), h2d);  // true: nothing stops streaming while a forward runs
  const UnitLayout& l = layouts_[unit];
  DiskBuffer* buffer = nullptr;
  if (!resident_[unit] && l.stream_from_disk) {
    buffer = &disk_buffers_[0];
    buffer->freed->synchronize();  // the copy out of its previous unit has run
    std::uint64_t cached = 0;
    for (const DiskRead& read : l.disk.reads) cached += disk_->read(read, static_cast<char*>(buffer->host));
    manager_.telemetry().add_disk_bytes(l.disk.read_bytes, cached);
  }
  stage(k, unit, buffer, h2d);
}

void ManagedModel::copy_loop() {
  Stream& h2d = manager_.h2d_stream();
  try {
    for (std::int64_t k = 0; sequence_limit_ < 0 || k < sequence_limit_; ++k) {
      const std::size_t unit = staged_[static_cast<std::size_t>(k) % staged_.size()];
      const UnitLayout& l = layouts_[unit];
      if (!place_in_ring(k, staging_need(unit), h2d)) return;
      DiskBuffer* buffer = nullptr;
      const std::int64_t job = !resident_[unit] && l.stream_from_disk ? disk_job_of(k) : -1;
      if (job >= 0) {
        buffer = &disk_buffers_[static_cast<std::size_t>(job) % disk_buffers_.size()];
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || buffer->read_job >= job; });
        if (stopping_) return;
      }
      stage(k, unit, buffer, h2d);
      {
        std::lock_guard lock(mutex_);
        if (buffer) buffer->copied_job = job;
        published_ = k + 1;
        manager_.telemetry().note_staged_in_flight(static_cast<std::uint64_t>(published_ - released_count_));
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard lock(mutex_);
    if (!worker_error_) worker_error_ = std::current_exception();  // the first failure; later ones follow from it
    cv_.notify_all();
  }
}

void ManagedModel::reader_loop(int index) {
  TraceRecorder* trace = manager_.trace();
  const std::string track = "disk reader " + std::to_string(index);
  const auto buffers = static_cast<std::int64_t>(disk_buffers_.size());
  try {
    for (;;) {
      std::int64_t job;
      {
        std::lock_guard lock(mutex_);
        if (stopping_ || (disk_job_limit_ >= 0 && next_disk_job_ >= disk_job_limit_)) return;
        job = next_disk_job_++;
      }
      DiskBuffer& buffer = disk_buffers_[static_cast<std::size_t>(job % buffers)];
      {
        // The buffer's previous job must have been copied out: its copy was enqueued (host) and has run (event).
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || job < buffers || buffer.copied_job >= job - buffers; });
        if (stopping_) return;
      }
      if (job >= buffers) buffer.freed->synchronize();
      const auto disk = static_cast<std::int64_t>(disk_staged_.size());
      const std::size_t pos = disk_staged_[static_cast<std::size_t>(job % disk)];
      const UnitLayout& l = layouts_[staged_[pos]];
      const double start = trace ? trace->now_us() : 0.0;
      std::uint64_t cached = 0;
      for (const DiskRead& read : l.disk.reads) cached += disk_->read(read, static_cast<char*>(buffer.host));
      manager_.telemetry().add_disk_bytes(l.disk.read_bytes, cached);
      if (trace) trace->add(track, "read " + l.name, start, trace->now_us());
      {
        std::lock_guard lock(mutex_);
        buffer.read_job = job;
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard lock(mutex_);
    if (!worker_error_) worker_error_ = std::current_exception();  // the first failure; later ones follow from it
    cv_.notify_all();
  }
}

}  // namespace vramkit
