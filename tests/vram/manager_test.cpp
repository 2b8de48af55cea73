// The VRAM manager's checks (manager_checks.h) on the emulated device, and the VRAM arguments.
#include <gtest/gtest.h>

#include "common/device_under_test.h"
#include "vram/manager_checks.h"
#include "vram/run_settings.h"
#include "vramkit/error.h"

namespace vramkit {
namespace manager_checks {
VRAMKIT_INSTANTIATE_ON_DEVICE(Emu, ManagerOnDevice, test::emu_device_under_test());
}  // namespace manager_checks

namespace {

TEST(VramArgumentsTest, LookaheadMibBecomesBytesAndMustNotBeNegative) {
  VramArguments args;
  args.device = "emu";
  args.lookahead_mib = 1.5;
  EXPECT_EQ(resolve_vram_arguments(args).manager.lookahead_bytes, 3u << 19);
  args.lookahead_mib = -1;
  try {
    resolve_vram_arguments(args);
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("--lookahead-mib"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vramkit
