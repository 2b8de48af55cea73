// The activation workspace estimates (dit_workspace.h, text_encoder_workspace.h) against what a forward
// really allocates on the device. On the emulated device with every weight resident, the ops' results are the
// only device-arena allocations a forward makes, so the arena's high-water mark during the forward is what
// the estimate reserves from the budget: the estimate must cover it. It may overshoot: it also prices the CPU
// kernels' f32 scratch (host memory on the emulated device), which with bf16 activations is twice their
// bytes.
#include <gtest/gtest.h>

#include <cstdint>

#include "backends/emu/emu_accelerator.h"
#include "core/allocator.h"
#include "core/tensor.h"
#include "model_test_util.h"
#include "models/activation_meter.h"
#include "models/qwen_image/dit.h"
#include "models/qwen_image/dit_workspace.h"
#include "models/qwen_image/text_encoder.h"
#include "models/qwen_image/text_encoder_workspace.h"
#include "models/qwen_image/tiny_model.h"
#include "vram/manager.h"

namespace vramkit::qwen_image {
namespace {

// The device arena's peak above its level before `run`.
template <typename Fn>
std::uint64_t measured_peak(VramManager& manager, Fn&& run) {
  const auto& device = manager.accelerator().device_allocator();
  device->reset_peak();
  const std::size_t before = device->allocated_bytes();
  run();
  return device->peak_bytes() - before;
}

VramConfig resident(DType dtype) {
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
// the estimate prices for a GPU that the emulated device does not allocate (the score block of the GEMM-path
// attention, which takes the tiny models' head_dim 32 on a device without cuDNN).
void expect_close_above(std::uint64_t estimate, std::uint64_t measured, std::uint64_t device_only = 0) {
  EXPECT_GE(estimate, measured);
  EXPECT_LE(static_cast<double>(estimate),
            4.0 * static_cast<double>(measured) + static_cast<double>(device_only));
}

// Runs `check(manager, storage, dtype, batch)` for every weight storage, activation dtype and batch of 1 and
// 2, each with a fresh emulated device.
template <typename Check>
void for_every_case(Check&& check) {
  for (const WeightStorage& storage : kStorages)
    for (const DType dtype : {DType::f32, DType::bf16})
      for (const std::int64_t batch : {1, 2}) {
        SCOPED_TRACE(std::string(storage.name) + ", " + std::string(dtype_name(dtype)) + ", batch " +
                     std::to_string(batch));
        VramManager manager(std::make_shared<EmuAccelerator>(EmuOptions{256u << 20, 0, 0}),
                            storage.options());
        check(manager, storage, dtype, batch);
      }
}

TEST(Workspace, TransformerEstimateCoversTheForward) {
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
    expect_close_above(dit_modulation_workspace_bytes(c, 7, dtype, storage.native_fp8_gemm), precompute);
    const std::uint64_t measured = measured_peak(manager, [&] { dit->forward(in, &modulation); });
    const std::uint64_t estimate =
        dit_forward_workspace_bytes(c, batch, grid_h * grid_w, text, true, dtype, storage.native_fp8_gemm);
    const std::int64_t joint = grid_h * grid_w + text;
    expect_close_above(estimate, measured, ActivationMeter::device_score_block(joint, joint));
    EXPECT_EQ(dit_modulation_table_bytes(c, 7, dtype),
              7 * (static_cast<std::uint64_t>(2 * c.num_layers * 6 * c.inner_dim() + 2 * c.inner_dim()) *
                       dtype_size(dtype) +
                   4));
  });
}

TEST(Workspace, TextEncoderEstimateCoversTheForward) {
  const TinyModelFolder tiny;
  for_every_case([&](VramManager& manager, const WeightStorage& storage, DType dtype, std::int64_t batch) {
    const auto encoder = QwenImageTextEncoder::open(manager, tiny.path(), storage.config(dtype));
    const std::int64_t length = 300;
    const Tensor ids = Tensor::zeros({batch, length}, DType::i64);
    const Tensor mask = Tensor::zeros({batch, length}, DType::i64);
    encoder->onload();
    const std::uint64_t measured = measured_peak(manager, [&] { encoder->forward(ids, mask); });
    expect_close_above(
        text_encoder_workspace_bytes(encoder->config(), batch, length, true, dtype, storage.native_fp8_gemm),
        measured, ActivationMeter::device_score_block(length, length));
  });
}

}  // namespace
}  // namespace vramkit::qwen_image
