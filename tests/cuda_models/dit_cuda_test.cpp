// The Qwen-Image transformer on a CUDA device: the checks of tests/models/dit_checks.h (the golden cases in
// every memory mode, repeated forwards, device memory and bytes moved against the plan), and fp8 storage
// against the emulated device. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "common/device_under_test.h"
#include "cuda_model_test_util.h"
#include "models/dit_checks.h"
#include "models/dit_golden.h"
#include "models/model_test_util.h"

namespace vramkit::qwen_image {

namespace test {
VRAMKIT_INSTANTIATE_ON_DEVICE(Cuda, DitOnDevice, vramkit::test::cuda_device_under_test());
}  // namespace test

namespace {

using test::DitCase;
using test::streamed;
using vramkit::test::cuda_accelerator;
using vramkit::test::emu_accelerator;
using vramkit::test::Mode;
using vramkit::test::relative_l2;
using vramkit::test::with_computation;

class DitCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    VRAMKIT_REQUIRE_CUDA();
    cases_ = test::load_dit_cases();
  }
  std::vector<DitCase> cases_;
};

// fp8 storage (the weights rounded to float8_e4m3fn with per-channel scales, as the "fp8" and "dynamic"
// presets store them): the same rounded weights on the emulated device are the reference, resident and
// streamed. The VRAM manager upcasts them to the computation dtype on the device (the accelerator's
// dequantize, which the conformance tests hold to the host's), so what differs is the ops': the parity tests'
// tolerances.
TEST_F(DitCuda, Fp8StorageMatchesTheEmulatedDevice) {
  for (const auto& [computation, tolerance] : {std::pair{DType::f32, 1e-4}, std::pair{DType::bf16, 2e-2}}) {
    SCOPED_TRACE(dtype_name(computation));
    const std::vector<Mode> modes{
        {"fp8 resident", with_computation(VramConfig::preset("fp8"), computation), std::nullopt},
        {"fp8 streamed", streamed(DType::f8_e4m3fn, computation), 0}};
    for (const Mode& mode : modes) {
      SCOPED_TRACE(mode.name);
      const std::vector<Tensor> want = test::run_dit_cases(emu_accelerator(), mode, cases_);
      const std::vector<Tensor> got = test::run_dit_cases(cuda_accelerator(), mode, cases_);
      for (std::size_t i = 0; i < cases_.size(); ++i) {
        const double err = relative_l2(got[i], want[i]);
        std::printf("[ cuda %s, %s, case %zu ] relative L2 to the emulated device %.3g\n",
                    std::string(dtype_name(computation)).c_str(), mode.name.c_str(), i, err);
        EXPECT_LE(err, tolerance) << "case " << i;
      }
    }
  }
}

}  // namespace
}  // namespace vramkit::qwen_image
