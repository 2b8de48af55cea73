// Streams and events of the emulated accelerator (see emu_accelerator.h).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "backends/accelerator.h"

namespace vramkit {

// Completion state of an event: `recorded` counts record() calls, `completed` the highest record reached.
// One event is recorded on one stream at a time (as with CUDA events in practice), so completion is in order.
class EmuEvent final : public Event {
 public:
  void synchronize() override;
  bool ready() override;

  std::uint64_t mark_recorded();            // a new record point; returns its number
  void complete(std::uint64_t point);       // called in stream order when that point is reached
  void wait_for(std::uint64_t point);       // blocks until `point` has completed
  std::uint64_t recorded() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t recorded_ = 0;
  std::uint64_t completed_ = 0;
};

// A stream run by a worker thread; copies are optionally throttled.
class EmuThreadStream final : public Stream {
 public:
  EmuThreadStream(std::string name, double gbps, double latency_us);
  ~EmuThreadStream() override;

  const std::string& name() const override { return name_; }
  void copy(void* dst, const void* src, std::size_t bytes) override;
  void convert(const void* src, DType from, void* dst, DType to, std::size_t n) override;
  void dequantize(const void* src, DType from, void* dst, DType to, std::size_t rows, std::size_t cols,
                  const float* scales) override;
  void record(Event& event) override;
  void wait(Event& event) override;
  void synchronize() override;
  void host_function(std::function<void()> fn) override { enqueue(std::move(fn)); }

 private:
  void enqueue(std::function<void()> work);
  void run();

  std::string name_;
  double bytes_per_second_;
  double latency_seconds_;
  double busy_until_ = 0;  // the emulated copy engine's virtual clock (seconds, steady clock), worker-owned
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::uint64_t enqueued_ = 0, done_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

// The compute stream: the calling thread. Work runs at once; wait() blocks the caller.
class EmuInlineStream final : public Stream {
 public:
  const std::string& name() const override { return name_; }
  void copy(void* dst, const void* src, std::size_t bytes) override;
  void convert(const void* src, DType from, void* dst, DType to, std::size_t n) override;
  void dequantize(const void* src, DType from, void* dst, DType to, std::size_t rows, std::size_t cols,
                  const float* scales) override;
  void record(Event& event) override;
  void wait(Event& event) override;
  void synchronize() override {}
  void host_function(std::function<void()> fn) override { fn(); }

 private:
  std::string name_ = "compute";
};

}  // namespace vramkit
