// The Qwen-Image text encoder on a CUDA device: the checks of tests/models/text_encoder_checks.h (the golden
// cases in every memory mode, repeated forwards). Skips without a CUDA device.
#include <gtest/gtest.h>

#include "common/device_under_test.h"
#include "cuda_model_test_util.h"
#include "models/text_encoder_checks.h"

namespace vramkit::qwen_image::test {

VRAMKIT_INSTANTIATE_ON_DEVICE(Cuda, TextEncoderOnDevice, vramkit::test::cuda_device_under_test());

}  // namespace vramkit::qwen_image::test
