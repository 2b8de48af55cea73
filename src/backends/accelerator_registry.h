// Which accelerator owns a device's memory. The ops find it here from their tensors' device: they allocate
// their outputs in its arena (so activations count against the VRAM budget) and, on a device the CPU cannot
// read (CUDA), hand the computation to its DeviceOps, which launch on its compute stream.
//
// Accelerators register themselves for their lifetime. One accelerator per device at a time is the supported
// configuration; while two share a device (two emulated devices in one test, say), the newer one serves it.
#pragma once

#include "backends/accelerator.h"

namespace vramkit {

void register_accelerator(Accelerator& accelerator);
void unregister_accelerator(Accelerator& accelerator);

// The accelerator serving `device`, or null (the cpu, or no accelerator alive for it).
Accelerator* find_accelerator(Device device);
// The same; throws ArgumentError naming the device when there is none.
Accelerator& accelerator_for(Device device);

// RAII registration, a member of each accelerator (declared last, so that it registers a fully built one).
class AcceleratorRegistration {
 public:
  explicit AcceleratorRegistration(Accelerator& accelerator) : accelerator_(accelerator) {
    register_accelerator(accelerator_);
  }
  ~AcceleratorRegistration() { unregister_accelerator(accelerator_); }
  AcceleratorRegistration(const AcceleratorRegistration&) = delete;
  AcceleratorRegistration& operator=(const AcceleratorRegistration&) = delete;

 private:
  Accelerator& accelerator_;
};

}  // namespace vramkit
