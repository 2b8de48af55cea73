// A Chrome-trace recorder (the JSON that chrome://tracing and Perfetto open): spans on named tracks — the
// compute stream, the copy stream, each disk reader — in microseconds since the recorder was created.
//
// Spans on a stream are timed by host functions that the stream runs when it reaches them
// (Stream::host_function), so they show when the work ran on that stream, not when the host enqueued it; on the
// emulated device's compute stream (the calling thread) that is the same moment. Thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/accelerator.h"

namespace vramkit {

class TraceRecorder {
 public:
  // A span opened on a stream; its start is filled in when the stream reaches it.
  struct StreamSpan {
    std::shared_ptr<double> start_us;
  };

  double now_us() const;
  void add(const std::string& track, std::string name, double start_us, double end_us);
  StreamSpan begin(Stream& stream);
  // Closes `span` when `stream` reaches this point (the stream that opened it, or one ordered after it).
  void end(Stream& stream, const StreamSpan& span, const std::string& track, std::string name);

  std::size_t size() const;
  // {"traceEvents": [...], "displayTimeUnit": "ms"}: one "X" event per span, tracks as named threads in the
  // order they first appeared. Call once the streams are idle. IoError when the file cannot be written.
  void write(const std::filesystem::path& path) const;

 private:
  struct Span {
    std::size_t track;
    std::string name;
    double start_us, end_us;
  };
  std::size_t track_id(const std::string& track);  // mutex_ held

  const std::chrono::steady_clock::time_point origin_ = std::chrono::steady_clock::now();
  mutable std::mutex mutex_;
  std::vector<std::string> tracks_;
  std::vector<Span> spans_;
};

}  // namespace vramkit
