// The workspace estimates against a forward on a CUDA device (tests/models/workspace_checks.h), priced for
// the CUDA kernels: the check that the GPU's smaller estimates still cover what its ops, cuBLASLt and cuDNN
// take from the arena. Skips without a CUDA device.
#include "cuda_model_test_util.h"
#include "models/workspace_checks.h"

namespace vramkit::qwen_image::test {
VRAMKIT_INSTANTIATE_ON_DEVICE(Cuda, WorkspaceOnDevice, vramkit::test::cuda_device_under_test());
}  // namespace vramkit::qwen_image::test
