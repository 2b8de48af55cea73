// Ops on the emulated device (ops/placement.h): the same results as on the cpu, bit for bit (the same CPU
// kernels run), placed in the device arena; mixing devices is a clear error; transfers round-trip.
#include "ops/placement.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backends/emu/emu_accelerator.h"
#include "op_test_util.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/layout.h"
#include "ops/linear.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/rope.h"
#include "ops/upsample.h"
#include "vramkit/error.h"

namespace vramkit::ops {
namespace {

using test::random_tensor;

class EmulatedDeviceOps : public ::testing::Test {
 protected:
  EmuAccelerator emu_{EmuOptions{64u << 20, 0, 0}};
  Device device_ = emu_.device();

  Tensor up(const Tensor& t) { return to_device(t, device_); }

  // `op` on host inputs and on their device copies: the device result lives in the arena while it is alive
  // and holds the host result's bits.
  void expect_same(const std::string& name, const std::vector<Tensor>& inputs,
                   const std::function<Tensor(const std::vector<Tensor>&)>& op) {
    SCOPED_TRACE(name);
    std::vector<Tensor> on_device;
    for (const Tensor& t : inputs) on_device.push_back(t.defined() ? up(t) : t);
    const Tensor want = op(inputs);
    const std::size_t before = emu_.device_allocator()->allocated_bytes();
    const Tensor got = op(on_device);
    EXPECT_EQ(got.device(), device_);
    EXPECT_GE(emu_.device_allocator()->allocated_bytes(), before + got.nbytes());
    const Tensor host = to_host(got);
    EXPECT_EQ(host.device(), Device::cpu());
    ASSERT_EQ(host.shape(), want.shape());
    ASSERT_EQ(host.dtype(), want.dtype());
    const Tensor w = want.contiguous();
    EXPECT_EQ(std::memcmp(host.data(), w.data(), w.nbytes()), 0);
  }
};

// In place on the device: gelu's bits in the tensor's own device memory, nothing allocated.
TEST_F(EmulatedDeviceOps, GeluInPlaceOverwritesTheDeviceTensor) {
  const Tensor x = random_tensor({2, 5, 8}, DType::bf16, 1);
  const Tensor on_device = up(x);
  const std::size_t before = emu_.device_allocator()->allocated_bytes();
  gelu_in_place(on_device, GeluApproximation::tanh);
  EXPECT_EQ(emu_.device_allocator()->allocated_bytes(), before);
  const Tensor want = gelu(x, GeluApproximation::tanh), host = to_host(on_device);
  EXPECT_EQ(std::memcmp(host.data(), want.data(), want.nbytes()), 0);
}

TEST_F(EmulatedDeviceOps, EveryOpMatchesTheCpuBitForBit) {
  const DType bf = DType::bf16;
  const Tensor x = random_tensor({2, 5, 8}, bf, 1), w = random_tensor({6, 8}, bf, 2),
               b = random_tensor({6}, bf, 3);
  expect_same("linear", {x, w, b}, [](const auto& t) { return linear(t[0], t[1], t[2]); });
  expect_same("matmul", {x, random_tensor({8, 3}, bf, 4)}, [](const auto& t) { return matmul(t[0], t[1]); });
  expect_same("gelu", {x}, [](const auto& t) { return gelu(t[0], GeluApproximation::tanh); });
  expect_same("silu", {x.transpose(0, 1)}, [](const auto& t) { return silu(t[0]); });
  expect_same("swiglu", {x}, [](const auto& t) { return swiglu(t[0]); });
  const Tensor shift = random_tensor({2, 1, 8}, bf, 5), sc = random_tensor({2, 1, 8}, bf, 6);
  expect_same("add", {x, sc}, [](const auto& t) { return add(t[0], t[1]); });
  expect_same("mul", {x, sc}, [](const auto& t) { return mul(t[0], t[1]); });
  expect_same("scale", {x}, [](const auto& t) { return scale(t[0], 0.3); });
  expect_same("clamp", {x}, [](const auto& t) { return clamp(t[0], -0.5, 0.5); });
  expect_same("cast", {x}, [](const auto& t) { return cast(t[0], DType::f32); });
  expect_same("modulate", {x, shift, sc}, [](const auto& t) { return modulate(t[0], t[1], t[2]); });
  expect_same("gated_residual", {x, sc, x}, [](const auto& t) { return gated_residual(t[0], t[1], t[2]); });
  expect_same("layer_norm", {x, random_tensor({8}, bf, 7), random_tensor({8}, bf, 8)},
              [](const auto& t) { return layer_norm(t[0], t[1], t[2], 1e-6); });
  expect_same("layer_norm_modulate", {x, shift, sc},
              [](const auto& t) { return layer_norm_modulate(t[0], t[1], t[2], 1e-6); });
  expect_same("rms_norm", {x, random_tensor({8}, bf, 9)},
              [](const auto& t) { return rms_norm(t[0], t[1], 1e-6); });
  const Tensor image = random_tensor({1, 4, 6, 8}, bf, 10);
  expect_same("channel_rms_norm", {image, random_tensor({4, 1, 1}, bf, 11)},
              [](const auto& t) { return channel_rms_norm(t[0], t[1]); });
  expect_same("conv2d", {image, random_tensor({3, 4, 3, 3}, bf, 12), random_tensor({3}, bf, 13)},
              [](const auto& t) { return conv2d(t[0], t[1], t[2], Conv2dParams::symmetric(2, 1)); });
  expect_same("causal_conv3d", {image.unsqueeze(2), random_tensor({3, 4, 3, 3, 3}, bf, 14), Tensor()},
              [](const auto& t) {
                return causal_conv3d(t[0], t[1], t[2], {{1, 1, 1}, {1, 1, 1}});
              });
  expect_same("upsample", {image}, [](const auto& t) { return upsample_nearest_2x(t[0]); });
  expect_same("pack_latents", {image}, [](const auto& t) { return pack_latents(t[0]); });
  expect_same("unpack_latents", {random_tensor({1, 12, 16}, bf, 15)},
              [](const auto& t) { return unpack_latents(t[0], 6, 8); });
  expect_same("permute_contiguous", {x}, [](const auto& t) { return permute_contiguous(t[0], {2, 0, 1}); });
  expect_same("concat", {x, random_tensor({2, 3, 8}, bf, 16)}, [](const auto& t) {
    return concat({t[0], t[1]}, 1);
  });
  const Tensor ids = Tensor::from_floats({3}, std::vector<float>{4, 0, 2}).to(DType::i64);
  expect_same("embedding", {ids, w}, [](const auto& t) { return embedding(t[0], t[1]); });

  const Tensor q = random_tensor({2, 5, 4, 8}, bf, 17), k = random_tensor({2, 7, 2, 8}, bf, 18);
  const Tensor mask =
      Tensor::from_floats({2, 7}, std::vector<float>{1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}).to(DType::u8);
  expect_same("attention", {q, k, random_tensor({2, 7, 2, 8}, bf, 19), mask}, [](const auto& t) {
    AttentionOptions o;
    o.key_mask = t[3];
    o.causal = true;
    return attention(t[0], t[1], t[2], o);
  });
  const RopeTable table =
      rope_1d(Tensor::from_floats({5}, std::vector<float>{0, 1, 2, 3, 4}).to(DType::i64), 8, 1e4);
  expect_same("apply_rope", {q, table.cos, table.sin}, [](const auto& t) {
    return apply_rope(t[0], RopeTable{RopeStyle::rotate_half, t[1], t[2]});
  });
}

TEST_F(EmulatedDeviceOps, MixingDevicesIsAClearErrorNamingTheTensors) {
  const Tensor x = random_tensor({2, 8}, DType::f32, 1), w = up(random_tensor({4, 8}, DType::f32, 2));
  try {
    linear(x, w);
    FAIL() << "no error";
  } catch (const ArgumentError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("linear: x f32[2, 8] cpu, weight f32[4, 8] emu:0"), std::string::npos) << m;
    EXPECT_NE(m.find("different devices"), std::string::npos) << m;
  }
  EXPECT_THROW(add(up(x), x), ArgumentError);
  EXPECT_THROW(concat({up(x), x}, 0), ArgumentError);
  AttentionOptions o;
  o.key_mask = Tensor::zeros({1, 3}, DType::u8);  // the mask on the host, q/k/v on the device
  const Tensor q = up(random_tensor({1, 3, 1, 8}, DType::f32, 3));
  EXPECT_THROW(attention(q, q, q, o), ArgumentError);
}

TEST_F(EmulatedDeviceOps, TransfersRoundTripAndResultsLeaveTheArenaWhenFreed) {
  const Tensor t = random_tensor({3, 4}, DType::bf16, 1).transpose(0, 1);  // a strided view
  const std::size_t before = emu_.device_allocator()->allocated_bytes();
  {
    const Tensor d = up(t);
    EXPECT_TRUE(d.is_contiguous());
    EXPECT_EQ(d.device(), device_);
    EXPECT_EQ(to_host(d).to_floats(), t.contiguous().to_floats());
    EXPECT_EQ(to_device(d, device_).data(), d.data());  // already there
    const Tensor f = to_device(t, device_, DType::f32);
    EXPECT_EQ(f.dtype(), DType::f32);
    EXPECT_EQ(to_host(f).to_floats(), t.contiguous().to_floats());
    EXPECT_EQ(to_device(d, Device::cpu()).device(), Device::cpu());
  }
  EXPECT_EQ(emu_.device_allocator()->allocated_bytes(), before);
  try {
    to_device(t, Device::emu(7));
    FAIL() << "no error";
  } catch (const ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("no accelerator is open for device emu:7"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace vramkit::ops
