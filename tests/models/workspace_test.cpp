// The workspace estimates against a forward on the emulated device (workspace_checks.h), priced for the CPU
// kernels it runs.
#include "workspace_checks.h"

namespace vramkit::qwen_image::test {
VRAMKIT_INSTANTIATE_ON_DEVICE(Emu, WorkspaceOnDevice, vramkit::test::emu_device_under_test());
}  // namespace vramkit::qwen_image::test
