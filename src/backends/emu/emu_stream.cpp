#include "backends/emu/emu_stream.h"

#include <chrono>
#include <cstring>

#include "core/convert.h"
#include "vram/fp8_scaling.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

EmuEvent& emu_event(Event& e, const std::string& stream) {
  auto* emu = dynamic_cast<EmuEvent*>(&e);
  if (!emu) throw ArgumentError("stream " + stream + ": the event does not belong to the emulated device");
  return *emu;
}

}  // namespace

std::uint64_t EmuEvent::mark_recorded() {
  std::lock_guard lock(mutex_);
  return ++recorded_;
}

void EmuEvent::complete(std::uint64_t point) {
  // Notify under the lock: a waiter may destroy the event as soon as it sees the completion, so nothing may
  // touch the event after the lock is released.
  std::lock_guard lock(mutex_);
  if (point > completed_) completed_ = point;
  cv_.notify_all();
}

void EmuEvent::wait_for(std::uint64_t point) {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return completed_ >= point; });
}

std::uint64_t EmuEvent::recorded() const {
  std::lock_guard lock(mutex_);
  return recorded_;
}

void EmuEvent::synchronize() { wait_for(recorded()); }

bool EmuEvent::ready() {
  std::lock_guard lock(mutex_);
  return completed_ >= recorded_;
}

EmuThreadStream::EmuThreadStream(std::string name, double gbps, double latency_us)
    : name_(std::move(name)),
      bytes_per_second_(gbps * 1e9),
      latency_seconds_(latency_us * 1e-6),
      worker_([this] { run(); }) {}

EmuThreadStream::~EmuThreadStream() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void EmuThreadStream::enqueue(std::function<void()> work) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(work));
    ++enqueued_;
  }
  cv_.notify_all();
}

void EmuThreadStream::run() {
  for (;;) {
    std::function<void()> work;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything enqueued has run
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
    {
      std::lock_guard lock(mutex_);
      ++done_;
    }
    cv_.notify_all();
  }
}

void EmuThreadStream::copy(void* dst, const void* src, std::size_t bytes) {
  enqueue([this, dst, src, bytes] {
    std::memcpy(dst, src, bytes);
    if (bytes_per_second_ <= 0) return;
    // The copy engine is busy for latency + bytes / bandwidth after it becomes free; sleeping until then keeps
    // the emulated bandwidth exact over many copies even when memcpy itself is faster or slower.
    busy_until_ = std::max(busy_until_, now_seconds()) + latency_seconds_ + static_cast<double>(bytes) / bytes_per_second_;
    std::this_thread::sleep_for(std::chrono::duration<double>(busy_until_ - now_seconds()));
  });
}

void EmuThreadStream::convert(const void* src, DType from, void* dst, DType to, std::size_t n) {
  enqueue([=] { vramkit::convert(src, from, dst, to, n); });
}

void EmuThreadStream::dequantize(const void* src, DType from, void* dst, DType to, std::size_t rows,
                                 std::size_t cols, const float* scales) {
  enqueue([=] { dequantize_rows(src, from, rows, cols, dst, to, scales); });
}

void EmuThreadStream::record(Event& event) {
  EmuEvent& e = emu_event(event, name_);
  const std::uint64_t point = e.mark_recorded();
  enqueue([&e, point] { e.complete(point); });
}

void EmuThreadStream::wait(Event& event) {
  EmuEvent& e = emu_event(event, name_);
  const std::uint64_t point = e.recorded();
  enqueue([&e, point] { e.wait_for(point); });
}

void EmuThreadStream::synchronize() {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = enqueued_;
  cv_.wait(lock, [&] { return done_ >= target; });
}

void EmuInlineStream::copy(void* dst, const void* src, std::size_t bytes) { std::memcpy(dst, src, bytes); }

void EmuInlineStream::convert(const void* src, DType from, void* dst, DType to, std::size_t n) {
  vramkit::convert(src, from, dst, to, n);
}

void EmuInlineStream::dequantize(const void* src, DType from, void* dst, DType to, std::size_t rows,
                                 std::size_t cols, const float* scales) {
  dequantize_rows(src, from, rows, cols, dst, to, scales);
}

void EmuInlineStream::record(Event& event) {
  EmuEvent& e = emu_event(event, name_);
  e.complete(e.mark_recorded());
}

void EmuInlineStream::wait(Event& event) {
  EmuEvent& e = emu_event(event, name_);
  e.wait_for(e.recorded());
}

}  // namespace vramkit
