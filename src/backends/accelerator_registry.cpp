#include "backends/accelerator_registry.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include "vramkit/error.h"

namespace vramkit {
namespace {

std::mutex registry_mutex;
std::vector<Accelerator*>& registry() {
  static std::vector<Accelerator*> accelerators;  // in registration order; the last one per device serves it
  return accelerators;
}

}  // namespace

void register_accelerator(Accelerator& accelerator) {
  const std::lock_guard lock(registry_mutex);
  registry().push_back(&accelerator);
}

void unregister_accelerator(Accelerator& accelerator) {
  const std::lock_guard lock(registry_mutex);
  auto& r = registry();
  r.erase(std::remove(r.begin(), r.end(), &accelerator), r.end());
}

Accelerator* find_accelerator(Device device) {
  if (!device.is_accelerator()) return nullptr;
  const std::lock_guard lock(registry_mutex);
  const auto& r = registry();
  const auto it = std::find_if(r.rbegin(), r.rend(), [&](Accelerator* a) { return a->device() == device; });
  return it == r.rend() ? nullptr : *it;
}

Accelerator& accelerator_for(Device device) {
  Accelerator* a = find_accelerator(device);
  if (!a) throw ArgumentError("no accelerator is open for device " + device.str());
  return *a;
}

}  // namespace vramkit
