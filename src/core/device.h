// Where a tensor's bytes live: the host ("cpu"), a CUDA GPU ("cuda:N") or the host-emulated accelerator
// ("emu:N") that lets CI exercise every device code path without a GPU.
#pragma once

#include <string>
#include <string_view>

namespace vramkit {

enum class DeviceKind { cpu, cuda, emu };

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;

  static Device cpu() { return {DeviceKind::cpu, 0}; }
  static Device cuda(int i = 0) { return {DeviceKind::cuda, i}; }
  static Device emu(int i = 0) { return {DeviceKind::emu, i}; }

  // "cpu", "cuda", "cuda:1", "emu", "emu:0". Throws ArgumentError naming the string.
  static Device parse(std::string_view s);

  // True where the CPU may dereference the memory (cpu and the emulated device).
  bool host_accessible() const { return kind != DeviceKind::cuda; }
  bool is_accelerator() const { return kind != DeviceKind::cpu; }
  std::string str() const;

  friend bool operator==(const Device&, const Device&) = default;
};

}  // namespace vramkit
