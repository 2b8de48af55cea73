#include "core/device.h"

#include <charconv>

#include "vramkit/error.h"

namespace vramkit {

Device Device::parse(std::string_view s) {
  const auto bad = [&](const char* why) {
    return ArgumentError("invalid device '" + std::string(s) + "': " + why +
                         " (expected cpu, cuda, cuda:N, emu or emu:N)");
  };
  const auto colon = s.find(':');
  const std::string_view kind = s.substr(0, colon);
  Device d;
  if (kind == "cpu") {
    d.kind = DeviceKind::cpu;
  } else if (kind == "cuda") {
    d.kind = DeviceKind::cuda;
  } else if (kind == "emu") {
    d.kind = DeviceKind::emu;
  } else {
    throw bad("unknown device kind");
  }
  if (colon == std::string_view::npos) return d;
  if (d.kind == DeviceKind::cpu) throw bad("cpu takes no index");
  const std::string_view num = s.substr(colon + 1);
  const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), d.index);
  if (num.empty() || ec != std::errc() || end != num.data() + num.size() || d.index < 0 || d.index > 63)
    throw bad("the index must be an integer from 0 to 63");
  return d;
}

std::string Device::str() const {
  switch (kind) {
    case DeviceKind::cpu:
      return "cpu";
    case DeviceKind::cuda:
      return "cuda:" + std::to_string(index);
    case DeviceKind::emu:
      return "emu:" + std::to_string(index);
  }
  return "?";
}

}  // namespace vramkit
