// The VRAM manager on a CUDA device: the checks of tests/vram/manager_checks.h (every memory mode gives the
// same bits, the budget is kept, bytes moved match the plan, the disk tier under a host-RAM cap, no leaks
// over onload/offload cycles, misuse). Skips without a CUDA device.
#include <gtest/gtest.h>

#include "common/device_under_test.h"
#include "cuda_model_test_util.h"
#include "vram/manager_checks.h"

namespace vramkit::manager_checks {
VRAMKIT_INSTANTIATE_ON_DEVICE(Cuda, ManagerOnDevice, test::cuda_device_under_test());
}  // namespace vramkit::manager_checks
