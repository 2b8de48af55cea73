// Shared by the model and pipeline tests on CUDA (tests/cuda_models): the device they run on and an
// accelerator for it, sized for the tiny golden models. The checks of tests/models/*_checks.h are
// instantiated here (prefix Cuda) with cuda_device_under_test(); they, and the CUDA-only tests, which start
// with VRAMKIT_REQUIRE_CUDA() (cuda/cuda_test_util.h), skip on a machine without a CUDA device.
#pragma once

#include <cstddef>
#include <memory>

#include "backends/cuda/cuda_accelerator.h"
#include "backends/cuda/cuda_device.h"
#include "common/device_under_test.h"
#include "cuda/cuda_test_util.h"

namespace vramkit::test {

// The device string of the pipeline tests (PipelineConfig::device); the accelerators below are on it too.
inline constexpr const char* kCudaDevice = "cuda:0";

// 512 MiB of device memory: the tiny models with every weight resident and their activations, plus the
// emulated tests' headroom (the text encoder's full-vocabulary embedding is 20 MB).
inline std::shared_ptr<Accelerator> cuda_accelerator() {
  return std::make_shared<CudaAccelerator>(0, std::size_t{512} << 20);
}

inline DeviceUnderTest cuda_device_under_test() {
  return {"cuda", kCudaDevice, cuda_accelerator, [] { return cuda::device_count() > 0; }};
}

}  // namespace vramkit::test
