// One model under the VRAM manager: its units' layouts, the plan, the host copies, the resident buffers, the
// staging ring and the threads that fill it.
//
// Lifecycle: offload (nothing on the device; host copies only where offload_device is cpu) -> onload() (plan,
// host copies built, resident units uploaded, ring allocated, copy and reader threads started) -> acquire()
// per unit, in the execution order, holding at most ring_slots staged leases, each among the last ring_slots
// acquired -> offload().
//
// The execution order is the units' order, or with ModelOptions::record_order the order of the first pass:
// until it is known, acquire() stages each unit itself (place, copy, upcast on h2d; the compute stream waits)
// and records it. The recorded pass ends when a unit is acquired again (the second pass begins; no lease may
// be held then) or at offload(); rewind() discards a partial recording.
//
// The staging ring is one device buffer of plan().ring_bytes. Staged sequence number k (the k-th unit through
// the ring since onload) takes the next staging_bytes of it in execution order, after k-1's bytes, or at the
// start when they do not fit before the end (planner.h staging_ring_bytes says why that cannot deadlock).
// Ordering (no device-wide synchronization in steady state):
//   copy thread, for k: reclaim, oldest first, the allocations whose bytes k overlaps (and the one whose
//     record k takes): host: wait until each was released;  h2d: wait(its released event)
//     h2d: copy host blob (or disk buffer) -> k's bytes; upcast into its compute region; record(k.ready)
//   compute: acquire(k) waits until k is published, then compute.wait(k.ready); release records k.released on
//   the compute stream.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "vram/manager.h"
#include "vram/planner.h"
#include "vram/unit_layout.h"

namespace vramkit {

class ManagedModel;

// The device tensors of one unit, in the computation dtype (or in fp8, for the GEMM weights that
// ManagerOptions::native_fp8_gemm keeps so), valid until the lease is destroyed.
class UnitLease {
 public:
  UnitLease() = default;
  UnitLease(UnitLease&& other) noexcept;
  UnitLease& operator=(UnitLease&& other) noexcept;
  ~UnitLease();

  std::size_t size() const { return tensors_.size(); }
  const Tensor& operator[](std::size_t i) const { return tensors_.at(i); }
  // By checkpoint key; throws ArgumentError naming the unit when absent.
  const Tensor& get(std::string_view name) const;
  // The per-row f32 scales [rows] of a tensor handed out in fp8 (native_fp8_gemm), on the device beside its
  // codes: W_real[r, :] = scale[r] · W[r, :]. An undefined Tensor when the tensor is not fp8 or its fp8 is
  // unscaled (a plain cast, or fp8 read from the file as is). Throws ArgumentError naming the unit when
  // absent.
  const Tensor& scale(std::string_view name) const;

 private:
  std::size_t index_of(std::string_view name) const;

  friend class ManagedModel;
  ManagedModel* model_ = nullptr;
  std::size_t unit_ = 0;
  std::int64_t sequence_ = -1;  // staged sequence number, -1 for an in-place resident unit
  TraceRecorder::StreamSpan in_use_;  // from acquire to release on the compute stream, when tracing
  std::vector<Tensor> tensors_;
  std::vector<Tensor> scales_;  // parallel to tensors_
};

class ManagedModel {
 public:
  ManagedModel(VramManager& manager, std::string name, std::shared_ptr<const WeightFiles> files,
               std::vector<UnitSpec> units, const VramConfig& config, ModelOptions options);
  ~ManagedModel();
  ManagedModel(const ManagedModel&) = delete;
  ManagedModel& operator=(const ManagedModel&) = delete;

  const std::string& name() const { return name_; }
  // Where its forward runs: the accelerator's device, which holds every lease's tensors.
  Device device() const { return acc_.device(); }
  const ResolvedVramConfig& config() const { return config_; }
  const std::vector<UnitLayout>& units() const { return layouts_; }
  // Whether its fp8 GEMM weights are handed out in fp8 (ManagerOptions::native_fp8_gemm).
  bool native_fp8_gemm() const;
  // Whether its forward runs a device's own kernels (Accelerator::device_ops: CUDA), or is planned for them
  // (ManagerOptions::plan_device_kernels), rather than the CPU kernels: what its workspace estimates price.
  bool device_kernels() const;
  std::size_t unit_index(std::string_view name) const;  // throws ArgumentError when absent

  // The activations reserved from the budget (ModelOptions::workspace_bytes until changed): the caller sets
  // them for the sizes of the next pass; they take effect at the next onload().
  void set_workspace_bytes(std::uint64_t bytes) { options_.workspace_bytes = bytes; }
  std::uint64_t workspace_bytes() const { return options_.workspace_bytes; }
  // For a forward pass about to start: the activations live in the device arena under the VRAM cap, so a
  // pass that needs more than the plan reserved raises the workspace and, when the model is onloaded with
  // less, plans and onloads it again (residents may move to streaming to make room). No lease may be held.
  void reserve_workspace(std::uint64_t bytes);

  // The plan onload() would make now (with the budget other onloaded models leave).
  Plan make_plan() const;
  const Plan& plan() const { return plan_; }  // of the current onload
  bool onloaded() const { return onloaded_; }

  void onload();
  void offload();
  // Announces how many forward passes will run before the offload, so that the copy thread and the disk
  // readers stop after the last one's units and no bytes move for a pass that never comes (without an
  // announcement streaming has no end: it prefetches the next pass's first units). Before onload(): for that
  // onload. On an onloaded model, between two passes: counted from the next pass, and streaming restarts at
  // the first unit under the new count. A pass beyond the count still runs, its units copied on demand
  // (without prefetch). Throws ArgumentError for passes < 1, or in the middle of a pass (leases held, units
  // acquired).
  void announce_passes(std::int64_t passes);
  // Blocks until the unit's tensors are ready for the compute stream. Throws ArgumentError when called out of
  // the execution order (declared or recorded; the message names the expected unit), when the model is not
  // onloaded, or when more staged leases are held than ring_slots.
  UnitLease acquire(std::size_t unit);
  // Abandons a pass left midway (a forward that threw): restarts streaming from the first unit of the
  // execution order, keeping the resident units and host copies. Every lease must have been released
  // (ArgumentError otherwise); a pass being recorded is discarded. Does nothing when the model is not onloaded.
  void rewind();
  // True while the execution order is being recorded (ModelOptions::record_order, first pass).
  bool recording_order() const { return recording_; }

 private:
  friend class UnitLease;
  // One staged unit's bytes in the ring. Records are reused round robin (sequence k uses record k % size):
  // their count bounds the allocations in flight, and is sized so that the ring's bytes bound them first.
  struct Allocation {
    std::uint64_t offset = 0, bytes = 0;  // in the ring; written by the copy thread before k is published
    std::unique_ptr<Event> ready, released;
    std::int64_t released_sequence = -1;  // the last lease of this record whose release was recorded
  };
  struct DiskBuffer {
    void* host = nullptr;
    std::unique_ptr<Event> freed;     // recorded on h2d after the copy out of this buffer
    std::int64_t read_job = -1;       // the last job read into it
    std::int64_t copied_job = -1;     // the last job whose copy out of it was enqueued
  };

  void release(UnitLease& lease);
  // Device bytes held now by everything but this model's residents, plus the workspaces other onloaded
  // models reserved.
  std::uint64_t device_bytes_of_others() const;
  void build_host_copies();
  void upload_residents();
  bool needs_staging(std::size_t unit) const;  // streamed, or resident and upcast
  void build_staged();                          // staged_ and the disk indices from order_ and the plan
  void finish_recording();
  void start_streaming();
  void stop_streaming();
  // The bytes unit `unit` takes in the staging ring: its stream copy and upcast, or a resident unit's upcast.
  std::uint64_t staging_need(std::size_t unit) const;
  // Places staged sequence k (need bytes) in the ring and reclaims the allocations in its way: the host waits
  // for their releases, h2d for their released events. False when streaming stops meanwhile.
  bool place_in_ring(std::int64_t k, std::uint64_t need, Stream& h2d);
  // Enqueues on h2d the copy (from the host copy, or `buffer` for a disk unit) and upcast of staged sequence k
  // into its placed bytes, and records its `ready` event.
  void stage(std::int64_t k, std::size_t unit, DiskBuffer* buffer, Stream& h2d);
  // Places, reads (a disk unit) and stages sequence k on the calling thread: acquire() while recording.
  void stage_now(std::int64_t k, std::size_t unit);
  void copy_loop();
  void reader_loop(int index);
  void upcast(Stream& stream, const BlobLayout& from, const BlobLayout& to, const char* src, char* dst) const;
  // Fills the lease's tensors (and scales) with views of the unit's bytes: those with an upcast target in
  // `compute`, the others in place in `src` (laid out as `from`).
  void fill_views(UnitLease& lease, const BlobLayout& from, const char* src, const char* compute) const;
  std::int64_t disk_job_of(std::int64_t sequence) const;

  VramManager& manager_;
  Accelerator& acc_;
  std::string name_;
  std::shared_ptr<const WeightFiles> files_;
  std::unique_ptr<DiskSource> disk_;  // the files opened for the disk readers, when onload is disk
  ResolvedVramConfig config_;
  ModelOptions options_;
  std::vector<UnitLayout> layouts_;
  Plan plan_;
  bool onloaded_ = false;

  std::vector<void*> host_blobs_;  // per unit: pinned copy in the stream layout (onload on cpu)
  std::vector<void*> resident_;    // per unit: device buffer in the resident layout
  std::vector<std::size_t> order_;          // the execution order: every unit, or those the first pass acquired
  bool order_known_ = false;                // false until a recorded pass is complete
  bool recording_ = false;                  // this pass is recorded (and staged synchronously)
  std::vector<std::size_t> staged_;         // units that pass through the ring, in execution order
  std::vector<std::size_t> disk_staged_;    // positions in staged_ of the units streamed from disk
  std::vector<std::int64_t> disk_index_;    // position in staged_ -> position in disk_staged_, or -1
  char* ring_ = nullptr;                 // the staging ring, plan_.ring_bytes
  std::vector<Allocation> allocations_;
  std::deque<std::int64_t> live_;       // copy thread: sequences whose bytes are not reclaimed yet, oldest first
  std::uint64_t ring_head_ = 0;          // copy thread: where the bytes of the last staged unit end
  std::vector<DiskBuffer> disk_buffers_;
  std::uint64_t disk_buffer_bytes_ = 0;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::int64_t published_ = 0;      // staged sequence numbers below this are enqueued on the copy stream
  std::int64_t next_sequence_ = 0;  // the sequence number the next staged acquire takes
  std::int64_t next_disk_job_ = 0;
  std::int64_t announced_passes_ = 0;  // for the next onload (announce_passes; 0: none)
  std::int64_t passes_left_ = -1;     // of this onload, for the streaming started next (-1: not known)
  std::int64_t sequence_limit_ = -1;  // staged sequences the copy thread stages (-1: no end)
  std::int64_t disk_job_limit_ = -1;  // disk jobs the readers read (-1: no end)
  int outstanding_ = 0;             // staged leases not yet released
  std::int64_t released_count_ = 0; // staged leases released since start_streaming()
  bool stopping_ = false;
  std::exception_ptr worker_error_;
  std::thread copier_;
  std::vector<std::thread> readers_;
};

}  // namespace vramkit
