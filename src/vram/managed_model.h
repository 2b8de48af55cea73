// One model under the VRAM manager: its units' layouts, the plan, the host copies, the resident buffers, the
// ring of streaming slots and the threads that fill them.
//
// Lifecycle: offload (nothing on the device; host copies only where offload_device is cpu) -> onload() (plan,
// host copies built, resident units uploaded, ring allocated, copy and reader threads started) -> acquire()
// per unit, in the declared execution order, each lease released before the ring wraps -> offload().
//
// Ordering (no device-wide synchronization in steady state):
//   copy thread, for staged sequence number k into slot k % R:
//     host: wait until lease k-R of that slot was released;  h2d: wait(slot.released)
//     h2d: copy host blob (or disk buffer) -> slot; upcast into the slot's compute region; record(slot.ready)
//   compute: acquire(k) waits until k is published, then compute.wait(slot.ready); release records
//   slot.released on the compute stream.
#pragma once

#include <atomic>
#include <condition_variable>
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

// The device tensors of one unit, in the computation dtype, valid until the lease is destroyed.
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

 private:
  friend class ManagedModel;
  ManagedModel* model_ = nullptr;
  std::size_t unit_ = 0;
  std::int64_t sequence_ = -1;  // staged sequence number, -1 for an in-place resident unit
  TraceRecorder::StreamSpan in_use_;  // from acquire to release on the compute stream, when tracing
  std::vector<Tensor> tensors_;
};

class ManagedModel {
 public:
  ManagedModel(VramManager& manager, std::string name, std::shared_ptr<const WeightFiles> files,
               std::vector<UnitSpec> units, const VramConfig& config, ModelOptions options);
  ~ManagedModel();
  ManagedModel(const ManagedModel&) = delete;
  ManagedModel& operator=(const ManagedModel&) = delete;

  const std::string& name() const { return name_; }
  const ResolvedVramConfig& config() const { return config_; }
  const std::vector<UnitLayout>& units() const { return layouts_; }
  std::size_t unit_index(std::string_view name) const;  // throws ArgumentError when absent

  // The activations reserved from the budget (ModelOptions::workspace_bytes until changed): the caller sets
  // them for the sizes of the next pass; they take effect at the next onload().
  void set_workspace_bytes(std::uint64_t bytes) { options_.workspace_bytes = bytes; }
  std::uint64_t workspace_bytes() const { return options_.workspace_bytes; }

  // The plan onload() would make now (with the budget other onloaded models leave).
  Plan make_plan() const;
  const Plan& plan() const { return plan_; }  // of the current onload
  bool onloaded() const { return onloaded_; }

  void onload();
  void offload();
  // Blocks until the unit's tensors are ready for the compute stream. Throws ArgumentError when called out of
  // the declared order, when the model is not onloaded, or when more staged leases are held than ring slots.
  UnitLease acquire(std::size_t unit);
  // Abandons a pass left midway (a forward that threw): restarts streaming from the first unit of the
  // execution order, keeping the resident units and host copies. Every lease must have been released
  // (ArgumentError otherwise). Does nothing when the model is not onloaded.
  void rewind();

 private:
  friend class UnitLease;
  struct Slot {
    void* device = nullptr;
    std::unique_ptr<Event> ready, released;
    std::int64_t released_sequence = -1;  // the last lease of this slot whose release was recorded
  };
  struct DiskBuffer {
    void* host = nullptr;
    std::unique_ptr<Event> freed;     // recorded on h2d after the copy out of this buffer
    std::int64_t read_job = -1;       // the last job read into it
    std::int64_t copied_job = -1;     // the last job whose copy out of it was enqueued
  };

  void release(UnitLease& lease);
  std::uint64_t device_bytes_of_others() const;  // device bytes held now by everything but this model's residents
  void build_host_copies();
  void upload_residents();
  void start_streaming();
  void stop_streaming();
  void copy_loop();
  void reader_loop(int index);
  void upcast(Stream& stream, const BlobLayout& from, const BlobLayout& to, const char* src, char* dst) const;
  std::vector<Tensor> views(std::size_t unit, const BlobLayout& from, const char* src, const char* compute) const;
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
  std::vector<std::size_t> staged_;         // units that pass through the ring, in execution order
  std::vector<std::int64_t> staged_index_;  // unit -> its position in staged_, or -1
  std::vector<std::size_t> disk_staged_;    // positions in staged_ of the units streamed from disk
  std::vector<std::int64_t> disk_index_;    // position in staged_ -> position in disk_staged_, or -1
  std::vector<Slot> ring_;
  std::vector<DiskBuffer> disk_buffers_;
  std::uint64_t disk_buffer_bytes_ = 0;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::int64_t published_ = 0;      // staged sequence numbers below this are enqueued on the copy stream
  std::int64_t next_sequence_ = 0;  // the sequence number the next staged acquire takes
  std::int64_t next_disk_job_ = 0;
  int outstanding_ = 0;             // staged leases not yet released
  bool stopping_ = false;
  std::exception_ptr worker_error_;
  std::thread copier_;
  std::vector<std::thread> readers_;
};

}  // namespace vramkit
