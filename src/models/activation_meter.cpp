#include "models/activation_meter.h"

#include "vram/managed_model.h"

namespace vramkit {

OpKernels op_kernels_of(const ManagedModel& model) {
  return {.device = model.device_kernels(), .native_fp8_gemm = model.native_fp8_gemm()};
}

}  // namespace vramkit
