// The op costs of ActivationMeter (models/activation_meter.h) for each kernel family, computed by hand from
// what the kernels allocate, and the full Qwen-Image transformer's workspace priced for each.
#include "models/activation_meter.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>

#include "models/qwen_image/dit_workspace.h"
#include "ops/cpu/linear.h"
#include "ops/device_scratch.h"

namespace vramkit {
namespace {

constexpr std::uint64_t kLibrary = ops::kLibraryWorkspaceBytes;
constexpr OpKernels kCpu{}, kDevice{.device = true}, kDeviceFp8{.device = true, .native_fp8_gemm = true};

TEST(ActivationMeter, NormsAndRopeCostTheirF32WorkOnTheCpuAndTheirResultOnADevice) {
  const ActivationMeter cpu(DType::bf16, kCpu), device(DType::bf16, kDevice);
  // CPU: the input's f32 copy (400), the f32 result (400), the bf16 result (200).
  EXPECT_EQ(cpu.f32_op(100, 100), 1000u);
  // Device: the bf16 result, plus the contiguous copy of a strided input.
  EXPECT_EQ(device.f32_op(100, 100), 200u);
  EXPECT_EQ(device.f32_op(100, 100, false), 400u);
  // f32 activations: no copy of a contiguous input on the CPU either.
  EXPECT_EQ(ActivationMeter(DType::f32, kCpu).f32_op(100, 100), 400u);
}

TEST(ActivationMeter, ALinearOnADeviceCostsItsResultItsBiasAndTheGemmWorkspace) {
  const ActivationMeter device(DType::bf16, kDevice);
  // rows 10, in 16, out 32: the bf16 result (640), a bias copy (64), cuBLASLt's workspace.
  EXPECT_EQ(device.linear(10, 16, 32), 640u + 64u + kLibrary);
  EXPECT_EQ(device.linear(10, 16, 32, false), 640u + 320u + 64u + kLibrary);  // x strided: its copy
  // The CPU: x and the result in f32, the f32 bias, the larger of the f32 weight tile and the bf16 result.
  const ActivationMeter cpu(DType::bf16, kCpu);
  const std::uint64_t tile =
      4u * static_cast<std::uint64_t>(std::min<std::int64_t>(ops::cpu::linear_tile_rows(16), 32)) * 16u;
  EXPECT_EQ(cpu.linear(10, 16, 32), 640u + 1280u + 128u + std::max<std::uint64_t>(tile, 640u));
}

TEST(ActivationMeter, ANativeFp8LinearOnADeviceCostsTheLargerOfItsTwoPaths) {
  const ActivationMeter device(DType::bf16, kDeviceFp8);
  // rows 10, in 16, out 32. Held on both paths: the result (640), x's codes (160), row and channel scales
  // (40 + 128), the bias copy (64).
  const std::uint64_t held = 640 + 160 + 40 + 128 + 64;
  const std::uint64_t native = held + 4 * 10 * 32 + kLibrary;                 // the f32 sums of every row
  const std::uint64_t fallback = held + 2 * 16 * 32 + (640 + 64 + kLibrary);  // bf16 weight + linear's cost
  EXPECT_EQ(device.linear(10, 16, 32), std::max(native, fallback));
}

TEST(ActivationMeter, AttentionOnADeviceCostsThePathsItMayTake) {
  const ActivationMeter bf16(DType::bf16, kDevice);
  // Batch 2, 100 queries of 4 x 128 over 100 keys (102400 elements each), masked: cuDNN's bf16 result
  // (204800), mask bias (400), first valid keys (8) and workspace, then the mask's byte copy (200).
  EXPECT_EQ(bf16.attention(2, 100, 100, 512, 512, 128, true), 204800u + 400u + 8u + kLibrary + 200u);
  // 1 x 32 heads (25600 elements): cuDNN or the GEMM path, the larger: the bf16 result (51200), f32 q and
  // output (2 x 102400), f32 k and v (2 x 102400), a 100 x 100 f32 score block, the GEMMs' workspace.
  const std::uint64_t gemm_path = 51200 + 2 * 102400 + 2 * 102400 + 4 * 100 * 100 + kLibrary;
  EXPECT_EQ(bf16.attention(2, 100, 100, 128, 128, 32, false), gemm_path);
  // f32: only the GEMM path, its result in f32.
  EXPECT_EQ(ActivationMeter(DType::f32, kDevice).attention(2, 100, 100, 128, 128, 32, false),
            gemm_path + 51200);
}

// The full Qwen-Image transformer at 1328 x 1328 with batched CFG (2 sequences of 6889 image tokens and up to
// 1024 text tokens, masked): the device estimate drops the CPU kernels' f32 copies.
TEST(ActivationMeter, TheFullTransformerNeedsLessWorkspaceOnADevice) {
  const qwen_image::DitConfig full;
  const std::uint64_t cpu =
      qwen_image::dit_forward_workspace_bytes(full, 2, 83 * 83, 1024, true, DType::bf16, kCpu);
  const std::uint64_t device =
      qwen_image::dit_forward_workspace_bytes(full, 2, 83 * 83, 1024, true, DType::bf16, kDevice);
  std::printf("transformer workspace at 1328 x 1328, CFG batch: cpu %.3f GiB, device %.3f GiB\n",
              static_cast<double>(cpu) / (1 << 30), static_cast<double>(device) / (1 << 30));
  EXPECT_LT(device, cpu * 6 / 10);
  // The image MLP dominates on the device: the streams and the 12288-wide bf16 hidden layer, which exists
  // once (GELU overwrites net.0.proj's result, and the modulated input is dropped before net.2 runs).
  const std::uint64_t rows = 2 * 83 * 83, dim = 3072, hidden = rows * 4 * dim * 2;
  EXPECT_GT(device, hidden + rows * dim * 2 + kLibrary);
  EXPECT_LT(device, 2 * hidden);
}

}  // namespace
}  // namespace vramkit
