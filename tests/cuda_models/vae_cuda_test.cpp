// The Qwen-Image VAE on a CUDA device: the checks of tests/models/vae_checks.h (the golden decode and encode
// cases in every memory mode, the reference's tiled decode, repeated decodes). Skips without a CUDA device.
#include <gtest/gtest.h>

#include "common/device_under_test.h"
#include "cuda_model_test_util.h"
#include "models/vae_checks.h"

namespace vramkit::qwen_image::test {

VRAMKIT_INSTANTIATE_ON_DEVICE(Cuda, VaeOnDevice, vramkit::test::cuda_device_under_test());

}  // namespace vramkit::qwen_image::test
