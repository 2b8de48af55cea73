// The device a manager, model or pipeline test body runs on. The checks that hold on every accelerator are
// written once, as value-parameterized tests over a DeviceUnderTest (tests/vram/manager_checks.h,
// tests/models/{dit,text_encoder,vae,pipeline}_checks.h), and instantiated for the emulated device in
// vram_tests and models_tests (prefix Emu, here) and for CUDA in cuda_model_tests (prefix Cuda,
// tests/cuda_models/cuda_model_test_util.h), so that a fix or a new check lands on both. A checks header
// holds TEST_P definitions: include it in exactly one source file per test binary, the one that instantiates
// it.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "backends/accelerator.h"
#include "backends/emu/emu_accelerator.h"

namespace vramkit::test {

struct DeviceUnderTest {
  std::string name;    // the test names' last part: "emu", "cuda"
  std::string device;  // the pipeline tests' PipelineConfig::device: "emu:1", "cuda:0"
  // A fresh accelerator on that device with an arena sized for the tiny models (each test builds its own).
  std::function<std::shared_ptr<Accelerator>()> accelerator;
  // Whether this machine has the device; without it every test of the instance skips.
  std::function<bool()> available;
};

// How gtest prints the parameter (--gtest_list_tests): "emu:1", "cuda:0".
inline void PrintTo(const DeviceUnderTest& device_under_test, std::ostream* out) {
  *out << device_under_test.device;
}

// INSTANTIATE_TEST_SUITE_P's name generator: Emu/DitOnDevice.Float32MatchesTheReferenceInEveryMode/emu.
inline std::string device_under_test_name(const ::testing::TestParamInfo<DeviceUnderTest>& info) {
  return info.param.name;
}

// The emulated device with 512 MiB of VRAM (the CUDA instance's arena; the emulated one reserves address
// space only), as fast as memcpy.
inline std::shared_ptr<Accelerator> emu_accelerator() {
  return std::make_shared<EmuAccelerator>(EmuOptions{std::size_t{512} << 20, 0, 0});
}

inline DeviceUnderTest emu_device_under_test() {
  return {"emu", "emu:1", emu_accelerator, [] { return true; }};
}

}  // namespace vramkit::test

// Instantiates a checks header's suite on one device: <prefix>/<suite>.<Check>/<device_under_test.name>.
#define VRAMKIT_INSTANTIATE_ON_DEVICE(prefix, suite, device_under_test)         \
  INSTANTIATE_TEST_SUITE_P(prefix, suite, ::testing::Values(device_under_test), \
                           ::vramkit::test::device_under_test_name)

// The first line of a parameterized fixture's SetUp: skips the test where the machine lacks the device.
#define VRAMKIT_REQUIRE_DEVICE(device_under_test)                                                         \
  do {                                                                                                    \
    if (!(device_under_test).available()) GTEST_SKIP() << "no " << (device_under_test).name << " device"; \
  } while (0)
