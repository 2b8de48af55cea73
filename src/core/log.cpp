#include "vramkit/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace vramkit {
namespace {

constexpr std::string_view kNames[] = {"trace", "debug", "info", "warn", "error", "off"};

LogLevel initial_level() {
  LogLevel level = LogLevel::warn;
  if (const char* env = std::getenv("VRAMKIT_LOG")) parse_log_level(env, &level);
  return level;
}

std::atomic<LogLevel>& level_ref() {
  static std::atomic<LogLevel> level{initial_level()};
  return level;
}

struct Sink {
  std::mutex mutex;
  LogCallback callback;
};

Sink& sink() {
  static Sink s;
  return s;
}

}  // namespace

bool parse_log_level(std::string_view s, LogLevel* out) {
  for (std::size_t i = 0; i < std::size(kNames); ++i) {
    if (kNames[i] == s) {
      *out = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

void set_log_level(LogLevel level) { level_ref().store(level); }
LogLevel log_level() { return level_ref().load(); }

void set_log_callback(LogCallback callback) {
  std::lock_guard lock(sink().mutex);
  sink().callback = std::move(callback);
}

void log(LogLevel level, std::string_view message) {
  if (level < log_level() || level == LogLevel::off) return;
  std::lock_guard lock(sink().mutex);
  if (sink().callback) {
    sink().callback(level, message);
    return;
  }
  const auto name = kNames[static_cast<std::size_t>(level)];
  std::fprintf(stderr, "vramkit %.*s: %.*s\n", static_cast<int>(name.size()), name.data(),
               static_cast<int>(message.size()), message.data());
}

}  // namespace vramkit
