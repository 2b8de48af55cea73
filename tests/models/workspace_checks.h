// The activation workspace estimates (dit_workspace.h, text_encoder_workspace.h) against what a forward
// really allocates on the device, priced for the kernels the device runs (op_kernels_of). With every weight
// resident, the ops' results and scratch are the only device-arena allocations a forward makes, so the
// arena's high-water mark during the forward is what the estimate reserves from the budget: the estimate must
// cover it. It may overshoot: on the emulated device it also prices the CPU kernels' f32 scratch (host memory
// there), which with bf16 activations is twice their bytes; on CUDA, the libraries' workspace that cuBLASLt
// and cuDNN may take (ops::kLibraryWorkspaceBytes) but often do not.
// Instantiated for the emulated device (workspace_test.cpp) and CUDA (cuda_models/workspace_cuda_test.cpp);
// include in one source file per test binary.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "common/device_under_test.h"
#include "core/allocator.h"
#include "core/tensor.h"
#include "model_test_util.h"
#include "models/activation_meter.h"
#include "models/qwen_image/dit.h"
#include "models/qwen_image/dit_workspace.h"
#include "models/qwen_image/text_encoder.h"
#include "models/qwen_image/text_encoder_workspace.h"
#include "models/qwen_image/tiny_model.h"
#include "models/qwen_image/vae.h"
#include "models/qwen_image/vae_tiling.h"
#include "ops/device_scratch.h"
#include "vram/manager.h"

namespace vramkit::qwen_image::test {

using vramkit::test::DeviceUnderTest;

// The device arena's peak above its level before `run`.
template <typename Fn>
std::uint64_t measured_peak(VramManager& manager, Fn&& run) {
  const auto& device = manager.accelerator().device_allocator();
  device->reset_peak();
  const std::size_t before = device->allocated_bytes();
  run();
  return device->peak_bytes() - before;
}

inline VramConfig resident(DType dtype) {
  return vramkit::test::with_computation(VramConfig::preset("none"), dtype);
}

// Every weight resident: in the storage dtype (bf16), or in fp8 multiplied natively (ops::fp8_linear, whose
// scratch the estimate then prices too).
struct WeightStorage {
  const char* name;
  bool native_fp8_gemm;
  VramConfig config(DType dtype) const {
    return native_fp8_gemm ? vramkit::test::with_computation(VramConfig::preset("fp8"), dtype)
                           : resident(dtype);
  }
  ManagerOptions options() const {
    ManagerOptions o;
    o.native_fp8_gemm = native_fp8_gemm;
    return o;
  }
};
constexpr WeightStorage kStorages[] = {{"bf16", false}, {"fp8, native fp8 GEMM", true}};

// Within the estimate, and the estimate within 4x of it (the f32 scratch, see above) plus `device_only`: what
// a device's estimate may price that the run did not take (the libraries' workspace, and the score block of
// the GEMM-path attention, which the tiny models' head_dim 32 takes where cuDNN does not).
inline void expect_close_above(std::uint64_t estimate, std::uint64_t measured,
                               std::uint64_t device_only = 0) {
  EXPECT_GE(estimate, measured);
  EXPECT_LE(static_cast<double>(estimate),
            4.0 * static_cast<double>(measured) + static_cast<double>(device_only));
}

class WorkspaceOnDevice : public ::testing::TestWithParam<DeviceUnderTest> {
 protected:
  void SetUp() override { VRAMKIT_REQUIRE_DEVICE(GetParam()); }

  // Runs `check(manager, storage, dtype, batch)` for every weight storage, activation dtype and batch of 1
  // and 2, each with a fresh accelerator.
  template <typename Check>
  void for_every_case(Check&& check) {
    for (const WeightStorage& storage : kStorages)
      for (const DType dtype : {DType::f32, DType::bf16})
        for (const std::int64_t batch : {1, 2}) {
          SCOPED_TRACE(std::string(storage.name) + ", " + std::string(dtype_name(dtype)) + ", batch " +
                       std::to_string(batch));
          VramManager manager(GetParam().accelerator(), storage.options());
          check(manager, storage, dtype, batch);
        }
  }

  // What a device's estimate may price beyond the run (expect_close_above), for an attention over `length`
  // keys; nothing on the emulated device.
  static std::uint64_t device_only(const ManagedModel& model, std::int64_t length) {
    return model.device_kernels()
               ? ops::kLibraryWorkspaceBytes + ActivationMeter::device_score_block(length, length)
               : 0;
  }
};

TEST_P(WorkspaceOnDevice, TransformerEstimateCoversTheForward) {
  const TinyModelFolder tiny;
  for_every_case([&](VramManager& manager, const WeightStorage& storage, DType dtype, std::int64_t batch) {
    const auto dit = QwenImageDit::open(manager, tiny.path(), storage.config(dtype));
    const DitConfig& c = dit->config();
    const std::int64_t grid_h = 24, grid_w = 32, text = 40;
    DitInputs in;
    in.hidden_states = Tensor::zeros({batch, grid_h * grid_w, c.in_channels}, dtype);
    in.encoder_hidden_states = Tensor::zeros({batch, text, c.joint_attention_dim}, dtype);
    in.encoder_mask = Tensor::zeros({batch, text}, DType::u8);
    in.timestep = Tensor::from_floats({batch}, std::vector<float>(static_cast<std::size_t>(batch), 0.5f));
    in.grid = {1, grid_h, grid_w};
    dit->onload();
    dit->managed_modulation().onload();  // loading reads weights through host buffers: not a forward's
    DitModulation modulation;
    const std::vector<float> schedule{1.0f, 0.9f, 0.75f, 0.5f, 0.3f, 0.1f, 0.02f};
    const std::uint64_t precompute = measured_peak(
        manager, [&] { modulation = dit->precompute_modulation(Tensor::from_floats({7}, schedule)); });
    expect_close_above(dit_modulation_workspace_bytes(c, 7, dtype, op_kernels_of(dit->managed_modulation())),
                       precompute, device_only(dit->managed_modulation(), 0));
    const std::uint64_t measured = measured_peak(manager, [&] { dit->forward(in, &modulation); });
    const std::uint64_t estimate = dit_forward_workspace_bytes(c, batch, grid_h * grid_w, text, true, dtype,
                                                               op_kernels_of(dit->managed()));
    expect_close_above(estimate, measured, device_only(dit->managed(), grid_h * grid_w + text));
    EXPECT_EQ(dit_modulation_table_bytes(c, 7, dtype),
              7 * (static_cast<std::uint64_t>(2 * c.num_layers * 6 * c.inner_dim() + 2 * c.inner_dim()) *
                       dtype_size(dtype) +
                   4));
  });
}

TEST_P(WorkspaceOnDevice, TextEncoderEstimateCoversTheForward) {
  const TinyModelFolder tiny;
  for_every_case([&](VramManager& manager, const WeightStorage& storage, DType dtype, std::int64_t batch) {
    const auto encoder = QwenImageTextEncoder::open(manager, tiny.path(), storage.config(dtype));
    const std::int64_t length = 300;
    const Tensor ids = Tensor::zeros({batch, length}, DType::i64);
    const Tensor mask = Tensor::zeros({batch, length}, DType::i64);
    encoder->onload();
    const std::uint64_t measured = measured_peak(manager, [&] { encoder->forward(ids, mask); });
    expect_close_above(text_encoder_workspace_bytes(encoder->config(), batch, length, true, dtype,
                                                    op_kernels_of(encoder->managed())),
                       measured, device_only(encoder->managed(), length));
  });
}

// The VAE's estimates (vae_tiling.h) against an untiled decode of a 40 x 48 latent and the encode of a
// 320 x 384 image, every weight resident.
TEST_P(WorkspaceOnDevice, VaeEstimatesCoverTheDecodeAndTheEncode) {
  const TinyModelFolder tiny;
  const std::int64_t h = 40, w = 48;
  for (const DType dtype : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    VramManager manager(GetParam().accelerator(), ManagerOptions{});
    const auto decoder = QwenImageVaeDecoder::open(manager, tiny.path(), resident(dtype));
    const VaeConfig& c = decoder->config();
    decoder->onload();
    const Tensor z = Tensor::zeros({1, c.z_dim, 1, h, w}, DType::f32);
    const std::uint64_t decode = measured_peak(manager, [&] {
      decoder->decode(z, {VaeTilingMode::never, std::nullopt});
    });
    expect_close_above(vae_decode_workspace_bytes(c, 1, h, w, dtype, op_kernels_of(decoder->managed())),
                       decode, device_only(decoder->managed(), h * w));
    decoder->offload();

    const auto encoder = QwenImageVaeEncoder::open(manager, tiny.path(), resident(dtype));
    encoder->onload();
    const std::int64_t f = c.spatial_factor();
    const Tensor image = Tensor::zeros({1, c.input_channels, 1, f * h, f * w}, DType::f32);
    const std::uint64_t encode = measured_peak(manager, [&] { encoder->encode(image); });
    expect_close_above(
        vae_encode_workspace_bytes(c, 1, f * h, f * w, dtype, op_kernels_of(encoder->managed())), encode,
        device_only(encoder->managed(), h * w));
  }
}

}  // namespace vramkit::qwen_image::test
