// Logging facade: a level (initially from the VRAMKIT_LOG environment variable: trace, debug, info, warn,
// error, off; default warn) and a sink (stderr, or a callback an embedder installs).
#pragma once

#include <functional>
#include <string_view>

namespace vramkit {

enum class LogLevel { trace, debug, info, warn, error, off };

using LogCallback = std::function<void(LogLevel, std::string_view)>;

void set_log_level(LogLevel level);
LogLevel log_level();
// Replaces the sink; an empty callback restores stderr. Thread-safe.
void set_log_callback(LogCallback callback);
void log(LogLevel level, std::string_view message);
// Parses "trace".."off"; returns false for anything else.
bool parse_log_level(std::string_view s, LogLevel* out);

inline void log_debug(std::string_view m) { log(LogLevel::debug, m); }
inline void log_info(std::string_view m) { log(LogLevel::info, m); }
inline void log_warn(std::string_view m) { log(LogLevel::warn, m); }
inline void log_error(std::string_view m) { log(LogLevel::error, m); }

}  // namespace vramkit
