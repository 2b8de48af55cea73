// The Qwen-Image VAE on a CUDA device: the golden decode and encode cases of tests/models/vae_test.cpp
// (diffusers' float32 outputs of the tiny checkpoint) in every memory mode, the reference's tiled decode, and
// repeated decodes. Its mid-block attention has one 384-wide head, which goes through the GEMM attention path
// (f32 GEMMs, mask, softmax, P·V) in f32 and bf16 alike. Skips without a CUDA device. The modes agree bit for
// bit for the reasons given in dit_cuda_test.cpp.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cuda_model_test_util.h"
#include "models/model_test_util.h"
#include "models/qwen_image/vae.h"
#include "models/vae_golden.h"
#include "vram/manager.h"

namespace vramkit::qwen_image {
namespace {

using test::kTinyVae;
using vramkit::test::cuda_accelerator;
using vramkit::test::memory_modes;
using vramkit::test::Mode;
using vramkit::test::relative_l2;
using vramkit::test::with_computation;

class VaeCuda : public test::VaeGoldenTest {
 protected:
  void SetUp() override {
    VRAMKIT_REQUIRE_CUDA();
    VaeGoldenTest::SetUp();
  }
  void check(DType computation, double tolerance, VaePart part) {
    check_every_mode(cuda_accelerator, computation, tolerance, part);
  }
};

// The tolerances of the emulated device (tests/models/vae_test.cpp explains the bf16 one).
TEST_F(VaeCuda, DecodeFloat32MatchesTheReferenceInEveryMode) {
  check(DType::f32, 1e-4, VaePart::decoder);
}
TEST_F(VaeCuda, EncodeFloat32MatchesTheReferenceInEveryMode) {
  check(DType::f32, 1e-4, VaePart::encoder);
}
TEST_F(VaeCuda, DecodeBfloat16StaysCloseToTheReferenceInEveryMode) {
  check(DType::bf16, 4e-2, VaePart::decoder);
}
TEST_F(VaeCuda, EncodeBfloat16StaysCloseToTheReferenceInEveryMode) {
  check(DType::bf16, 4e-2, VaePart::encoder);
}

// diffusers' tiled_decode with the same tiles (a 2 x 3 grid of 8 latent pixels every 6, border tiles cut).
TEST_F(VaeCuda, TiledDecodeMatchesTheReferenceTiledDecode) {
  VramManager manager(cuda_accelerator(), {});
  auto decoder =
      QwenImageVaeDecoder::open(manager, kTinyVae, with_computation(VramConfig::preset("none"), DType::f32));
  const std::vector<float> tile = get("decode_tiled.tile").to(DType::f32).to_floats();
  const VaeDecodeOptions options{VaeTilingMode::always, VaeTiling{static_cast<std::int64_t>(tile[0]),
                                                                  static_cast<std::int64_t>(tile[1])}};
  const double err = relative_l2(decoder->decode(get("decode_tiled.z"), options), get("decode_tiled.output"));
  std::printf("[ cuda tiled ] relative L2 error %.3g\n", err);
  EXPECT_LE(err, 1e-4);
}

TEST_F(VaeCuda, RepeatedDecodesAreIdentical) {
  ManagerOptions streamed;
  streamed.vram_limit = 0;  // the second pass must walk the ring of units again from the first one
  VramManager manager(cuda_accelerator(), streamed);
  auto decoder = QwenImageVaeDecoder::open(
      manager, kTinyVae,
      with_computation(VramConfig::preset("dynamic").with_storage_dtype(DType::bf16), DType::bf16));
  const Tensor z = get("decode_single.z");
  const VaeDecodeOptions untiled{VaeTilingMode::never, std::nullopt};
  EXPECT_EQ(decoder->decode(z, untiled).to_floats(), decoder->decode(z, untiled).to_floats());
}

}  // namespace
}  // namespace vramkit::qwen_image
