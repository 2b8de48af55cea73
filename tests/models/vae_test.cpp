// The Qwen-Image VAE decoder and encoder against diffusers' AutoencoderKLQwenImage (golden data of
// tools/golden/make_qwen_image_vae_golden.py: a tiny random-weight checkpoint and float32 reference outputs
// of decode, tiled_decode and encode for non-square sizes and a batch): the checks of vae_checks.h on the
// emulated device, then tiled decoding against the untiled one, tile planning, latent scaling and bad inputs.
#include "models/qwen_image/vae.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <optional>

#include "common/device_under_test.h"
#include "io/safetensors.h"
#include "model_test_util.h"
#include "vae_checks.h"
#include "vae_golden.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {

namespace test {
VRAMKIT_INSTANTIATE_ON_DEVICE(Emu, VaeOnDevice, vramkit::test::emu_device_under_test());
}  // namespace test

namespace {

using vramkit::test::relative_l2;
using vramkit::test::with_computation;

using test::kTinyVae;

VramManager make_manager(std::optional<std::uint64_t> vram_limit = std::nullopt) {
  return VramManager(vramkit::test::emu_accelerator(), vramkit::test::manager_options(vram_limit));
}

VramConfig basic(DType computation = DType::f32) {
  return with_computation(VramConfig::preset("none"), computation);
}

using VaeParity = test::VaeGoldenTest;

constexpr OpKernels kCpuKernels{}, kDeviceKernels{.device = true};

// Tiled against untiled. The decoder's mid-block attention is global and its receptive field is wider than any
// overlap, so tiles cannot reproduce the untiled image; on this random-weight model with tiles of 8 latent
// pixels the reference itself differs by 0.45 (relative L2; make_qwen_image_vae_golden.py prints it), by 0.10
// with tiles of 32 on a 40 x 40 latent. Bound: 0.5 for the small tiles, and bit-identical when one tile covers
// the latent.
TEST_F(VaeParity, TiledDecodeStaysWithinTheSeamToleranceOfTheUntiledOne) {
  VramManager manager = make_manager();
  auto decoder = QwenImageVaeDecoder::open(manager, kTinyVae, basic());
  const Tensor z = get("decode_tiled.z");
  const Tensor untiled = decoder->decode(z, {VaeTilingMode::never, std::nullopt});
  const Tensor tiled = decoder->decode(z, {VaeTilingMode::always, VaeTiling{8, 6}});
  const double err = relative_l2(tiled, untiled);
  std::printf("[ tiled vs untiled ] relative L2 %.3g\n", err);
  EXPECT_LE(err, 0.5);
  EXPECT_GT(err, 0.0);
  const Tensor one_tile = decoder->decode(z, {VaeTilingMode::always, VaeTiling{16, 16}});
  EXPECT_EQ(one_tile.to_floats(), untiled.to_floats());
}

// The VAE has no linears: with fp8 storage and the native fp8 GEMM every weight is still handed out in the
// computation dtype (its convs cannot take fp8), and the decode is the fp8-upcast decode's, bit for bit.
TEST_F(VaeParity, NativeFp8GemmLeavesTheConvWeightsUpcast) {
  const VramConfig fp8 = with_computation(VramConfig::preset("fp8"), DType::bf16);
  ManagerOptions native = vramkit::test::manager_options(std::nullopt);
  native.native_fp8_gemm = true;
  VramManager with_flag(vramkit::test::emu_accelerator(), native);
  VramManager without(vramkit::test::emu_accelerator(), vramkit::test::manager_options(std::nullopt));
  auto decoder = QwenImageVaeDecoder::open(with_flag, kTinyVae, fp8);
  for (const UnitLayout& unit : decoder->managed().units())
    for (std::size_t i = 0; i < unit.sources.size(); ++i) {
      EXPECT_NE(unit.compute_dtypes[i], DType::f8_e4m3fn) << unit.sources[i]->name();
      if (unit.sources[i]->shape().rank() >= 2) EXPECT_EQ(unit.resident.tensors[i].dtype, DType::f8_e4m3fn);
    }
  const Tensor z = get("decode_tiled.z");
  const VaeDecodeOptions untiled{VaeTilingMode::never, std::nullopt};
  EXPECT_EQ(decoder->decode(z, untiled).to_floats(),
            QwenImageVaeDecoder::open(without, kTinyVae, fp8)->decode(z, untiled).to_floats());
}

// Automatic tiling: under a VRAM limit that leaves about the reserved workspace (one 32 x 32 latent tile), a
// small latent decodes in one pass and a 40 x 40 one in tiles, exactly as when tiling is requested.
TEST_F(VaeParity, DecodeTilesAutomaticallyWhenTheBudgetIsShort) {
  const VaeConfig config = VaeConfig::from_json_file(kTinyVae / "vae" / "config.json");
  const std::uint64_t tile_workspace = vae_decode_workspace_bytes(config, 1, 32, 32, DType::f32, kCpuKernels);
  VramManager manager = make_manager(tile_workspace + (2u << 20));
  auto decoder = QwenImageVaeDecoder::open(
      manager, kTinyVae,
      with_computation(VramConfig::preset("dynamic").with_storage_dtype(DType::bf16), DType::f32));
  decoder->onload();
  EXPECT_FALSE(decoder->plan(get("decode_single.z")).tiled);
  const Tensor large = Tensor::from_floats({1, 16, 1, 40, 40}, std::vector<float>(16 * 40 * 40, 0.25f));
  const VaeDecodePlan plan = decoder->plan(large);
  ASSERT_TRUE(plan.tiled);
  EXPECT_EQ(plan.tiling.tile, 32);
  EXPECT_EQ(plan.tiling.stride, 24);
  EXPECT_GT(plan.untiled_workspace_bytes, *plan.available_bytes);
  EXPECT_LE(plan.workspace_bytes, *plan.available_bytes);
  EXPECT_EQ(decoder->decode(large).to_floats(),
            decoder->decode(large, {VaeTilingMode::always, std::nullopt}).to_floats());
}

// The full-size decoder (Qwen-Image's config) at 1328 x 1328 (latent 166 x 166) and 2048 x 2048: one pass
// needs GiB (on the CPU kernels about 2.2 GiB in f32 and 3.0 GiB in bf16, whose f32 staging costs more, at
// 1328; on a device's about 1.2 GiB in bf16); under a 1 GiB budget the plan takes diffusers' tiles, whose
// pass needs about 0.1 GiB, and smaller ones when the budget is tighter still.
TEST(VaeTilePlanning, FullSizeDecodesArePlannedWithinAFewGiB) {
  const VaeConfig full;
  constexpr std::uint64_t kGiB = 1ull << 30;
  for (const OpKernels kernels : {kCpuKernels, kDeviceKernels})
    for (const DType dtype : {DType::bf16, DType::f32})
      for (const std::int64_t latent : {166, 256}) {
        const std::string what = std::string(kernels.device ? "device " : "cpu ") +
                                 std::string(dtype_name(dtype)) + " latent " + std::to_string(latent);
        SCOPED_TRACE(what);
        const VaeDecodePlan plan = plan_vae_decode(full, 1, latent, latent, dtype, kernels, kGiB);
        std::printf("[ %s ] untiled %.2f GiB, tile %lld: %.2f GiB\n", what.c_str(),
                    static_cast<double>(plan.untiled_workspace_bytes) / kGiB,
                    static_cast<long long>(plan.tiling.tile),
                    static_cast<double>(plan.workspace_bytes) / kGiB);
        EXPECT_GT(plan.untiled_workspace_bytes, kGiB);
        ASSERT_TRUE(plan.tiled);
        EXPECT_EQ(plan.tiling.tile, 32);
        EXPECT_EQ(plan.tiling.stride, 24);
        EXPECT_LE(plan.workspace_bytes, kGiB / 4);
        EXPECT_FALSE(plan.over_budget());
        ASSERT_FALSE(plan.rows.empty());
        EXPECT_EQ(plan.rows.size(), static_cast<std::size_t>((latent + 23) / 24));
        EXPECT_EQ(plan.rows, plan.columns);
      }
  // The untiled estimate grows with the pixel count.
  for (const OpKernels kernels : {kCpuKernels, kDeviceKernels}) {
    const std::uint64_t small = vae_decode_workspace_bytes(full, 1, 83, 83, DType::bf16, kernels);
    const std::uint64_t large = vae_decode_workspace_bytes(full, 1, 166, 166, DType::bf16, kernels);
    EXPECT_GT(large, 3 * small);
    EXPECT_LT(large, 5 * small);
    EXPECT_GT(vae_decode_workspace_bytes(full, 2, 166, 166, DType::bf16, kernels), large);
  }
  // A device's kernels stage nothing in f32: at 1328 in bf16 its pass needs under half the CPU kernels'.
  EXPECT_LT(2 * vae_decode_workspace_bytes(full, 1, 166, 166, DType::bf16, kDeviceKernels),
            vae_decode_workspace_bytes(full, 1, 166, 166, DType::bf16, kCpuKernels));

  // A tighter budget: smaller tiles with the same 3:4 overlap; none fitting: the smallest, flagged.
  const std::uint64_t tile16 = vae_decode_workspace_bytes(full, 1, 16, 16, DType::bf16, kCpuKernels);
  const VaeDecodePlan tight = plan_vae_decode(full, 1, 166, 166, DType::bf16, kCpuKernels, tile16);
  EXPECT_EQ(tight.tiling.tile, 16);
  EXPECT_EQ(tight.tiling.stride, 12);
  const VaeDecodePlan impossible = plan_vae_decode(full, 1, 166, 166, DType::bf16, kCpuKernels, 1u << 20);
  EXPECT_EQ(impossible.tiling.tile, 8);
  EXPECT_TRUE(impossible.over_budget());
  // No budget: one pass; never: one pass even over the budget.
  EXPECT_FALSE(plan_vae_decode(full, 1, 166, 166, DType::bf16, kCpuKernels, std::nullopt).tiled);
  const VaeDecodePlan never =
      plan_vae_decode(full, 1, 166, 166, DType::bf16, kCpuKernels, kGiB, {VaeTilingMode::never, {}});
  EXPECT_FALSE(never.tiled);
  EXPECT_TRUE(never.over_budget());
  // Bad tile sizes.
  EXPECT_THROW(plan_vae_decode(full, 1, 16, 16, DType::bf16, kCpuKernels, {},
                               {VaeTilingMode::always, VaeTiling{8, 9}}),
               ArgumentError);
  EXPECT_THROW(plan_vae_decode(full, 1, 16, 16, DType::bf16, kCpuKernels, {},
                               {VaeTilingMode::always, VaeTiling{1, 1}}),
               ArgumentError);
}

// The pipeline's scaling against double precision, and normalize undoing denormalize.
TEST(VaeLatents, DenormalizeAppliesStdAndMeanPerChannel) {
  const VaeConfig config;
  std::vector<float> values(2 * 16 * 3);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = std::sin(0.37f * static_cast<float>(i)) * 2.0f;
  const Tensor z = Tensor::from_floats({2, 16, 1, 1, 3}, values);
  const std::vector<float> got = denormalize_latents(config, z).to_floats();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::size_t c = (i / 3) % 16;
    const double want = static_cast<double>(values[i]) * config.latents_std[c] + config.latents_mean[c];
    EXPECT_NEAR(got[i], want, 1e-6 * (1 + std::abs(want))) << i;
  }
  const std::vector<float> back = normalize_latents(config, denormalize_latents(config, z)).to_floats();
  for (std::size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(back[i], values[i], 1e-6) << i;
  EXPECT_THROW(denormalize_latents(config, Tensor::zeros({1, 8, 1, 2, 2}, DType::f32)), ShapeError);
}

TEST_F(VaeParity, BadInputsAreClearErrors) {
  VramManager manager = make_manager();
  auto decoder = QwenImageVaeDecoder::open(manager, kTinyVae, basic());
  auto encoder = QwenImageVaeEncoder::open(manager, kTinyVae, basic());
  for (const Shape& shape : {Shape{1, 8, 1, 4, 4}, Shape{1, 16, 2, 4, 4}, Shape{1, 16, 4, 4}}) {
    try {
      decoder->decode(Tensor::zeros(shape, DType::f32));
      ADD_FAILURE() << "no ShapeError for z " << shape.str();
    } catch (const ShapeError& e) {
      EXPECT_NE(std::string(e.what()).find("z f32" + shape.str()), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(decoder->decode(Tensor::zeros({1, 16, 1, 4, 4}, DType::i64)), DTypeError);
  EXPECT_THROW(encoder->encode(Tensor::zeros({1, 3, 1, 16, 16}, DType::i32)), DTypeError);
  EXPECT_THROW(encoder->encode(Tensor::zeros({1, 3, 1, 20, 16}, DType::f32)), ShapeError);  // 20 % 8
  EXPECT_THROW(encoder->encode(Tensor::zeros({1, 4, 1, 16, 16}, DType::f32)), ShapeError);
  EXPECT_THROW(encoder->encode(Tensor::zeros({1, 3, 2, 16, 16}, DType::f32)), ShapeError);

  // A checkpoint without one decoder tensor fails at open, naming it.
  const auto dir = std::filesystem::temp_directory_path() / ("vramkit_vae_missing_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(kTinyVae / "vae" / "config.json", dir / "config.json");
  const WeightFiles tiny = WeightFiles::open(kTinyVae / "vae");
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const WeightTensor& t : tiny.tensors())
    if (t.name() != "decoder.up_blocks.2.resnets.1.conv2.weight") tensors.emplace_back(t.name(), tiny.view(t.name()).clone());
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", tensors);
  try {
    QwenImageVaeDecoder::open(manager, dir, basic());
    ADD_FAILURE() << "no FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("1 missing:\n    decoder.up_blocks.2.resnets.1.conv2.weight"), std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(QwenImageVaeEncoder::open(manager, dir, basic()));  // the encoder's tensors are all there
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vramkit::qwen_image
