// The Qwen-Image VAE's checks on any accelerator (device_under_test.h; instantiated for the emulated device
// in vae_test.cpp and for CUDA in tests/cuda_models/vae_cuda_test.cpp): the golden decode and encode cases of
// vae_golden.h (diffusers' float32 outputs of the tiny checkpoint) in every memory mode, which must agree bit
// for bit (dit_checks.h says why on CUDA too), the reference's tiled decode, and repeated decodes. The
// mid-block attention has one 384-wide head, which on CUDA goes through the GEMM attention path (f32 GEMMs,
// mask, softmax, P·V) in f32 and bf16 alike.
//
// Holds TEST_P definitions: include it in one source file per test binary.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/device_under_test.h"
#include "model_test_util.h"
#include "models/qwen_image/vae.h"
#include "vae_golden.h"
#include "vram/manager.h"

namespace vramkit::qwen_image::test {

class VaeOnDevice : public VaeGoldenTest,
                    public ::testing::WithParamInterface<vramkit::test::DeviceUnderTest> {
 protected:
  void SetUp() override {
    VRAMKIT_REQUIRE_DEVICE(GetParam());
    VaeGoldenTest::SetUp();
  }

  std::shared_ptr<Accelerator> accelerator() const { return GetParam().accelerator(); }

  // Every memory mode's decode (in one pass) or encode of the golden cases: within `tolerance` (relative L2)
  // of the reference, and the basic mode's bits in every mode.
  void check(DType computation, double tolerance, VaePart part) {
    std::vector<Tensor> expected;
    for (const std::string& name : vae_case_names(part))
      expected.push_back(get(vae_expected_key(part, name)));
    vramkit::test::expect_every_mode_matches(
        computation, tolerance, expected,
        [&](const vramkit::test::Mode& mode) { return run_vae_cases(accelerator(), mode, part, *golden_); });
  }
};

// f32 activations on the exact (bf16-valued) weights: only summation order and libm differ from PyTorch.
TEST_P(VaeOnDevice, DecodeFloat32MatchesTheReferenceInEveryMode) {
  check(DType::f32, 1e-4, VaePart::decoder);
}
TEST_P(VaeOnDevice, EncodeFloat32MatchesTheReferenceInEveryMode) {
  check(DType::f32, 1e-4, VaePart::encoder);
}

// bf16 activations: every op rounds to bf16 (8 bits of mantissa) through ~20 convolutions. Diffusers itself
// in bf16 differs from its f32 output by 0.022 / 0.025 (decode cases) and 0.013 / 0.016 (encode cases) here;
// this implementation on the emulated device by as much (about 0.022 / 0.026 and 0.014 / 0.014).
TEST_P(VaeOnDevice, DecodeBfloat16StaysCloseToTheReferenceInEveryMode) {
  check(DType::bf16, 4e-2, VaePart::decoder);
}
TEST_P(VaeOnDevice, EncodeBfloat16StaysCloseToTheReferenceInEveryMode) {
  check(DType::bf16, 4e-2, VaePart::encoder);
}

// The tiling itself against diffusers' tiled_decode with the same tiles (8 latent pixels every 6): a 2 x 3
// grid whose border tiles are cut, blended in the reference's order.
TEST_P(VaeOnDevice, TiledDecodeMatchesTheReferenceTiledDecode) {
  VramManager manager(accelerator(), {});
  auto decoder = QwenImageVaeDecoder::open(
      manager, kTinyVae, vramkit::test::with_computation(VramConfig::preset("none"), DType::f32));
  const std::vector<float> tile = get("decode_tiled.tile").to(DType::f32).to_floats();
  const VaeDecodeOptions options{VaeTilingMode::always, VaeTiling{static_cast<std::int64_t>(tile[0]),
                                                                  static_cast<std::int64_t>(tile[1])}};
  const Tensor z = get("decode_tiled.z");
  const VaeDecodePlan plan = decoder->plan(z, options);
  EXPECT_TRUE(plan.tiled);
  EXPECT_EQ(plan.rows, (std::vector<std::int64_t>{0, 6}));
  EXPECT_EQ(plan.columns, (std::vector<std::int64_t>{0, 6, 12}));
  const double err = vramkit::test::relative_l2(decoder->decode(z, options), get("decode_tiled.output"));
  std::printf("[ %s tiled ] relative L2 error %.3g\n", GetParam().name.c_str(), err);
  EXPECT_LE(err, 1e-4);
}

// Streamed, so that the second pass must walk the ring of units again from the first one; f32 and bf16,
// opened by the VAE's own folder.
TEST_P(VaeOnDevice, RepeatedDecodesAreIdentical) {
  for (const DType computation : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(dtype_name(computation));
    VramManager manager(accelerator(), vramkit::test::manager_options(0));
    auto decoder = QwenImageVaeDecoder::open(
        manager, kTinyVae / "vae",
        vramkit::test::with_computation(VramConfig::preset("dynamic").with_storage_dtype(DType::bf16),
                                        computation));
    const Tensor z = get("decode_single.z");
    const VaeDecodeOptions untiled{VaeTilingMode::never, std::nullopt};
    EXPECT_EQ(decoder->decode(z, untiled).to_floats(), decoder->decode(z, untiled).to_floats());
  }
}

}  // namespace vramkit::qwen_image::test
