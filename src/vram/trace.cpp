#include "vram/trace.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "vramkit/error.h"

namespace vramkit {

double TraceRecorder::now_us() const {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - origin_).count();
}

std::size_t TraceRecorder::track_id(const std::string& track) {
  const auto it = std::find(tracks_.begin(), tracks_.end(), track);
  if (it != tracks_.end()) return static_cast<std::size_t>(it - tracks_.begin());
  tracks_.push_back(track);
  return tracks_.size() - 1;
}

void TraceRecorder::add(const std::string& track, std::string name, double start_us, double end_us) {
  std::lock_guard lock(mutex_);
  spans_.push_back({track_id(track), std::move(name), start_us, std::max(start_us, end_us)});
}

TraceRecorder::StreamSpan TraceRecorder::begin(Stream& stream) {
  StreamSpan span{std::make_shared<double>(0.0)};
  // Written and later read by host functions of streams ordered after one another: no race.
  stream.host_function([this, start = span.start_us] { *start = now_us(); });
  return span;
}

void TraceRecorder::end(Stream& stream, const StreamSpan& span, const std::string& track, std::string name) {
  stream.host_function([this, start = span.start_us, track, name = std::move(name)]() mutable {
    add(track, std::move(name), *start, now_us());
  });
}

std::size_t TraceRecorder::size() const {
  std::lock_guard lock(mutex_);
  return spans_.size();
}

void TraceRecorder::write(const std::filesystem::path& path) const {
  nlohmann::json events = nlohmann::json::array();
  {
    std::lock_guard lock(mutex_);
    for (std::size_t t = 0; t < tracks_.size(); ++t) {
      events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", t}, {"args", {{"name", tracks_[t]}}}});
      // compute on top, then the copy stream, then the disk readers in the order they first read.
      const std::size_t order = tracks_[t] == "compute" ? 0 : tracks_[t].starts_with("copy") ? 1 : 2 + t;
      events.push_back(
          {{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", 1}, {"tid", t}, {"args", {{"sort_index", order}}}});
    }
    for (const Span& s : spans_)
      events.push_back({{"name", s.name}, {"ph", "X"}, {"pid", 1}, {"tid", s.track}, {"ts", s.start_us},
                        {"dur", s.end_us - s.start_us}});
  }
  std::ofstream out(path);
  out << nlohmann::json{{"traceEvents", events}, {"displayTimeUnit", "ms"}}.dump() << "\n";
  out.close();
  if (!out) throw IoError("cannot write the trace to " + path.string());
}

}  // namespace vramkit
