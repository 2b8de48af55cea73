// The CUDA element-wise ops and activations (ops/cuda/elementwise_cuda.h) against the CPU ops
// (ops/elementwise.h, ops/activation.h), and the strided copy against Tensor::to of a permuted view, on fresh
// random inputs: every activation dtype, mixed input dtypes, numpy broadcasting, a transposed
// (non-contiguous) input, the fused gate/up SwiGLU, in place.
// Tolerances: add, mul, scale, clamp, modulate, gated residual and copy follow the CPU's f32 arithmetic (or
// conversion) exactly: equal values. Activations (tanhf / erff / expf on the device, std:: on the CPU, each
// within ~2 ulp): f32 1e-6 absolute + 1e-5 relative; bf16 / f16 one unit in the last place of the output
// (+1e-6).
#include "ops/cuda/elementwise_cuda.h"

#include <gtest/gtest.h>

#include <vector>

#include "cuda_op_test_util.h"
#include "cuda_test_util.h"
#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/layout.h"
#include "ops/op_test_util.h"
#include "ops/upsample.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

constexpr DType kDtypes[] = {DType::f32, DType::bf16, DType::f16};

std::vector<std::int64_t> dims(const Shape& s) {
  return {s.dims().begin(), s.dims().end()};
}

// A contiguous device input read over out_shape with broadcasting.
cuda::StridedInput input(const cuda::DeviceBuffer& buffer, const Tensor& t, const Shape& out_shape) {
  return {buffer.data(), t.dtype(), cuda::broadcast_strides(dims(t.shape()), dims(out_shape))};
}

double activation_rtol(DType dt) {
  return dt == DType::f32 ? 1e-5 : test::ulp_rtol(dt);
}

TEST(CudaElementwise, ActivationsMatchTheCpu) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  struct Activation {
    cuda::UnaryOp op;
    const char* name;
    Tensor (*cpu)(const Tensor&);
  };
  const Activation activations[] = {
      {cuda::UnaryOp::gelu_tanh, "gelu_tanh",
       [](const Tensor& x) { return ops::gelu(x, ops::GeluApproximation::tanh); }},
      {cuda::UnaryOp::gelu_erf, "gelu_erf",
       [](const Tensor& x) { return ops::gelu(x, ops::GeluApproximation::none); }},
      {cuda::UnaryOp::silu, "silu", [](const Tensor& x) { return ops::silu(x); }},
  };
  for (const Activation& a : activations) {
    for (DType dt : kDtypes) {
      for (const Shape& shape : {Shape{1}, Shape{7}, Shape{3, 1000}, Shape{2, 3, 333}, Shape{4099}}) {
        // [-10, 10): both tails (silu's e^-x large, gelu's tanh saturating) and the curved middle.
        const Tensor x = test::random_tensor(shape, dt, seed, -10.0f, 10.0f);
        const Tensor want = a.cpu(x);
        const cuda::DeviceBuffer dx = test::to_device(x), out = test::poisoned(x.nbytes());
        cuda::launch_unary(a.op, input(dx, x, shape), out.data(), dt, dims(shape), nullptr);
        EXPECT_TRUE(test::close_to(test::from_device(out, shape, dt), want, 1e-6, activation_rtol(dt),
                                   std::string(a.name) + " " + x.str()));
      }
    }
  }
}

// A [33, 17] input that is the transpose of a [17, 33] buffer: strides (1, 33).
TEST(CudaElementwise, ReadsTransposedInputs) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  const Tensor stored = test::random_tensor({17, 33}, DType::bf16, seed, -4.0f, 4.0f);
  const Tensor x = stored.transpose(0, 1);
  const Tensor want = ops::silu(x);
  const cuda::DeviceBuffer dx = test::to_device(stored), out = test::poisoned(x.nbytes());
  cuda::launch_unary(cuda::UnaryOp::silu, {dx.data(), DType::bf16, {1, 33}}, out.data(), DType::bf16,
                     {33, 17}, nullptr);
  EXPECT_TRUE(test::close_to(test::from_device(out, {33, 17}, DType::bf16), want, 1e-6,
                             activation_rtol(DType::bf16), "silu of a transposed " + stored.str()));
}

struct BroadcastCase {
  Shape a, b;
};
const BroadcastCase kBroadcasts[] = {
    {{7}, {7}},         {{3, 1000}, {1000}}, {{2, 5, 33}, {2, 1, 33}}, {{4, 1, 9}, {1, 6, 9}},
    {{5, 300}, {5, 1}}, {{1}, {2, 3}},
};

Shape broadcast(const Shape& a, const Shape& b) {
  const std::vector<std::int64_t> a_dims = dims(a), b_dims = dims(b);
  std::vector<std::int64_t> out(std::max(a_dims.size(), b_dims.size()), 1);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::size_t from_end = out.size() - 1 - i;
    const std::int64_t da = from_end < a_dims.size() ? a_dims[a_dims.size() - 1 - from_end] : 1;
    const std::int64_t db = from_end < b_dims.size() ? b_dims[b_dims.size() - 1 - from_end] : 1;
    out[i] = std::max(da, db);
  }
  return Shape(std::span<const std::int64_t>(out));
}

TEST(CudaElementwise, BinaryOpsBroadcastLikeTheCpu) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  struct Binary {
    cuda::BinaryOp op;
    const char* name;
    Tensor (*cpu)(const Tensor&, const Tensor&);
    bool exact;
  };
  const Binary binaries[] = {
      {cuda::BinaryOp::add, "add", [](const Tensor& a, const Tensor& b) { return ops::add(a, b); }, true},
      {cuda::BinaryOp::mul, "mul", [](const Tensor& a, const Tensor& b) { return ops::mul(a, b); }, true},
      {cuda::BinaryOp::swiglu, "swiglu", [](const Tensor& a, const Tensor& b) { return ops::swiglu(a, b); },
       false},
  };
  for (const Binary& op : binaries) {
    for (DType dt : kDtypes) {
      for (const BroadcastCase& c : kBroadcasts) {
        // b in another dtype than a where possible: the result has a's dtype, b is read as it is stored.
        const DType b_dt = dt == DType::f32 ? DType::bf16 : DType::f32;
        const Tensor a = test::random_tensor(c.a, dt, seed, -6.0f, 6.0f);
        const Tensor b = test::random_tensor(c.b, b_dt, seed + 1, -3.0f, 3.0f);
        const Shape shape = broadcast(c.a, c.b);
        const Tensor want = op.cpu(a, b);
        const cuda::DeviceBuffer da = test::to_device(a), db = test::to_device(b);
        const cuda::DeviceBuffer out =
            test::poisoned(static_cast<std::size_t>(shape.numel()) * dtype_size(dt));
        cuda::launch_binary(op.op, input(da, a, shape), input(db, b, shape), out.data(), dt, dims(shape),
                            nullptr);
        const Tensor got = test::from_device(out, shape, dt);
        const std::string what = std::string(op.name) + " " + a.str() + ", " + b.str();
        EXPECT_TRUE(op.exact ? test::same_values(got, want, what)
                             : test::close_to(got, want, 1e-6, activation_rtol(dt), what));
      }
    }
  }
}

// The Qwen2.5 MLP's fused projection: gate_up [rows, 2F], gate = [:, :F], up = [:, F:], read in place.
TEST(CudaElementwise, FusedSwigluReadsBothHalvesInPlace) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  for (DType dt : kDtypes) {
    const std::int64_t rows = 5, f = 77;
    const Tensor gate_up = test::random_tensor({rows, 2 * f}, dt, seed, -6.0f, 6.0f);
    const Tensor want = ops::swiglu(gate_up);
    const cuda::DeviceBuffer d = test::to_device(gate_up), out = test::poisoned(want.nbytes());
    const auto* up =
        static_cast<const std::uint8_t*>(d.data()) + static_cast<std::size_t>(f) * dtype_size(dt);
    cuda::launch_binary(cuda::BinaryOp::swiglu, {d.data(), dt, {2 * f, 1}}, {up, dt, {2 * f, 1}}, out.data(),
                        dt, {rows, f}, nullptr);
    EXPECT_TRUE(test::close_to(test::from_device(out, {rows, f}, dt), want, 1e-6, activation_rtol(dt),
                               "fused swiglu " + gate_up.str()));
  }
}

// The DiT block's AdaLN: x [B, L, D] with per-sample shift / scale / gate [B, 1, D] (f32 or x's dtype).
TEST(CudaElementwise, ModulateAndGatedResidualMatchTheCpuExactly) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  for (DType dt : kDtypes) {
    for (DType mod_dt : {DType::f32, dt}) {
      for (const Shape& mod_shape : {Shape{2, 1, 96}, Shape{96}}) {
        const Shape shape{2, 37, 96};
        const Tensor x = test::random_tensor(shape, dt, seed, -4.0f, 4.0f);
        const Tensor y = test::random_tensor(shape, dt, seed + 1, -4.0f, 4.0f);
        const Tensor shift = test::random_tensor(mod_shape, mod_dt, seed + 2);
        const Tensor scale = test::random_tensor(mod_shape, mod_dt, seed + 3);
        const cuda::DeviceBuffer dx = test::to_device(x), dy = test::to_device(y),
                                 dshift = test::to_device(shift), dscale = test::to_device(scale);
        const cuda::DeviceBuffer out = test::poisoned(x.nbytes());
        cuda::launch_ternary(cuda::TernaryOp::modulate, input(dx, x, shape), input(dshift, shift, shape),
                             input(dscale, scale, shape), out.data(), dt, dims(shape), nullptr);
        EXPECT_TRUE(test::same_values(test::from_device(out, shape, dt), ops::modulate(x, shift, scale),
                                      "modulate " + x.str() + " by " + shift.str()));
        const cuda::DeviceBuffer out2 = test::poisoned(x.nbytes());
        cuda::launch_ternary(cuda::TernaryOp::gated_residual, input(dx, x, shape),
                             input(dscale, scale, shape), input(dy, y, shape), out2.data(), dt, dims(shape),
                             nullptr);
        EXPECT_TRUE(test::same_values(test::from_device(out2, shape, dt), ops::gated_residual(x, scale, y),
                                      "gated_residual " + x.str() + " gate " + scale.str()));
      }
    }
  }
}

TEST(CudaElementwise, ScaleAndClampMatchTheCpuExactly) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  for (DType dt : kDtypes) {
    std::vector<float> v = test::random_tensor({3, 517}, DType::f32, seed, -8.0f, 8.0f).to_floats();
    v[5] = NAN, v[6] = INFINITY, v[7] = -INFINITY;  // clamp keeps NaN and clamps the infinities
    const Tensor x = Tensor::from_floats({3, 517}, v).to(dt);
    const cuda::DeviceBuffer dx = test::to_device(x), out = test::poisoned(x.nbytes());
    const double s = 0.18215;  // a VAE-like scaling factor, rounded to f32 on both sides
    cuda::launch_scale(input(dx, x, x.shape()), static_cast<float>(s), out.data(), dt, dims(x.shape()),
                       nullptr);
    EXPECT_TRUE(
        test::same_values(test::from_device(out, x.shape(), dt), ops::scale(x, s), "scale " + x.str()));
    cuda::launch_clamp(input(dx, x, x.shape()), -1.5f, 2.25f, out.data(), dt, dims(x.shape()), nullptr);
    EXPECT_TRUE(test::same_values(test::from_device(out, x.shape(), dt), ops::clamp(x, -1.5, 2.25),
                                  "clamp " + x.str()));
  }
}

// The layout copies: a permuted view made contiguous, and casts on the way.
TEST(CudaElementwise, CopyGathersPermutedViewsAndCasts) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  for (DType from : kDtypes) {
    for (DType to : kDtypes) {
      const Tensor stored = test::random_normal({2, 7, 3, 33}, from, seed, 10.0f);
      const Tensor view = stored.permute({0, 2, 1, 3});  // [B, L, H, D] -> [B, H, L, D]
      const Tensor want = view.to(to);
      std::vector<std::int64_t> strides(view.strides().dims().begin(), view.strides().dims().end());
      const cuda::DeviceBuffer d = test::to_device(stored), out = test::poisoned(want.nbytes());
      cuda::launch_copy({d.data(), from, strides}, out.data(), to, dims(view.shape()), nullptr);
      EXPECT_TRUE(
          test::same_values(test::from_device(out, view.shape(), to), want,
                            "copy of the permuted " + view.str() + " to " + std::string(dtype_name(to))));
    }
  }
}

// The copy covers the VAE's nearest 2x upsampling (stride-0 views) and the latent (un)packing (6-d permutes):
// the output viewed as a higher-rank contiguous tensor reads the input through the strides the CPU ops use.
TEST(CudaElementwise, CopyDoesUpsamplingAndLatentPacking) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  const std::int64_t b = 2, c = 16, h = 6, w = 10;
  const Tensor x = test::random_normal({b, c, h, w}, DType::bf16, seed);
  const cuda::DeviceBuffer dx = test::to_device(x);
  // Upsampling: out [b, c, 2h, 2w] viewed as [b, c, h, 2, w, 2] reads x[b, c, i, j] for both dy and dx.
  const cuda::DeviceBuffer up = test::poisoned(x.nbytes() * 4);
  cuda::launch_copy({dx.data(), DType::bf16, {c * h * w, h * w, w, 0, 1, 0}}, up.data(), DType::bf16,
                    {b, c, h, 2, w, 2}, nullptr);
  EXPECT_TRUE(test::same_values(test::from_device(up, {b, c, 2 * h, 2 * w}, DType::bf16),
                                ops::upsample_nearest_2x(x), "upsample_nearest_2x of " + x.str()));
  // Packing: out [b, (h/2)(w/2), 4c] viewed as [b, h/2, w/2, c, 2, 2] reads x[b, c, 2·row + dy, 2·col + dx].
  const cuda::DeviceBuffer packed = test::poisoned(x.nbytes());
  cuda::launch_copy({dx.data(), DType::bf16, {c * h * w, 2 * w, 2, h * w, w, 1}}, packed.data(), DType::bf16,
                    {b, h / 2, w / 2, c, 2, 2}, nullptr);
  const Tensor want_packed = ops::pack_latents(x);
  EXPECT_TRUE(test::same_values(test::from_device(packed, want_packed.shape(), DType::bf16), want_packed,
                                "pack_latents of " + x.str()));
  // Unpacking: out [b, c, h, w] as [b, c, h/2, 2, w/2, 2] reads packed[b, row·(w/2) + col, 4c + 2dy + dx].
  const cuda::DeviceBuffer unpacked = test::poisoned(x.nbytes());
  const std::int64_t c4 = 4 * c, w2 = w / 2;
  cuda::launch_copy({packed.data(), DType::bf16, {(h / 2) * w2 * c4, 4, w2 * c4, 2, c4, 1}}, unpacked.data(),
                    DType::bf16, {b, c, h / 2, 2, w2, 2}, nullptr);
  EXPECT_TRUE(test::same_values(test::from_device(unpacked, x.shape(), DType::bf16), x,
                                "unpack_latents of the packed " + x.str()));
}

TEST(CudaElementwise, InPlaceAddGivesTheSameResult) {
  VRAMKIT_REQUIRE_CUDA();
  const std::uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(test::seed_trace(seed));
  const Tensor a = test::random_tensor({3, 4097}, DType::bf16, seed);
  const Tensor b = test::random_tensor({3, 4097}, DType::bf16, seed + 1);
  const cuda::DeviceBuffer da = test::to_device(a), db = test::to_device(b);
  cuda::launch_binary(cuda::BinaryOp::add, input(da, a, a.shape()), input(db, b, a.shape()), da.data(),
                      DType::bf16, dims(a.shape()), nullptr);
  EXPECT_TRUE(
      test::same_values(test::from_device(da, a.shape(), DType::bf16), ops::add(a, b), "in-place add"));
}

// Host-side, no device needed.
TEST(CudaElementwise, BroadcastStridesAlignFromTheRight) {
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(cuda::broadcast_strides(V{2, 1, 33}, V{2, 5, 33}), (V{33, 0, 1}));
  EXPECT_EQ(cuda::broadcast_strides(V{1000}, V{3, 1000}), (V{0, 1}));
  EXPECT_EQ(cuda::broadcast_strides(V{5, 1}, V{5, 300}), (V{1, 0}));
  EXPECT_EQ(cuda::broadcast_strides(V{4, 6, 9}, V{4, 6, 9}), (V{54, 9, 1}));
  EXPECT_EQ(cuda::broadcast_strides(V{}, V{2, 3}), (V{0, 0}));
}

// Validation happens before any CUDA call, so these run without a device too.
TEST(CudaElementwise, RejectsBadArguments) {
  EXPECT_TRUE(test::throws_with<ShapeError>(
      [] {
        cuda::broadcast_strides(std::vector<std::int64_t>{3, 4}, std::vector<std::int64_t>{2, 4});
      },
      {"[3, 4]", "[2, 4]", "does not broadcast"}));
  EXPECT_TRUE(test::throws_with<ShapeError>(
      [] {
        cuda::launch_unary(cuda::UnaryOp::silu, {nullptr, DType::f32, {1}}, nullptr, DType::f32, {2, 3},
                           nullptr);
      },
      {"cuda silu", "input 0 has 1 strides", "rank 2"}));
  EXPECT_TRUE(test::throws_with<DTypeError>(
      [] {
        cuda::launch_binary(cuda::BinaryOp::add, {nullptr, DType::f32, {1}}, {nullptr, DType::i64, {1}},
                            nullptr, DType::f32, {4}, nullptr);
      },
      {"cuda add", "input 1 dtype i64"}));
  EXPECT_TRUE(test::throws_with<DTypeError>(
      [] {
        cuda::launch_unary(cuda::UnaryOp::gelu_tanh, {nullptr, DType::f32, {1}}, nullptr, DType::f8_e5m2, {4},
                           nullptr);
      },
      {"cuda gelu_tanh", "output dtype f8_e5m2"}));
  EXPECT_TRUE(test::throws_with<ArgumentError>(
      [] {
        cuda::launch_clamp({nullptr, DType::f32, {1}}, 2.0f, 1.0f, nullptr, DType::f32, {4}, nullptr);
      },
      {"cuda clamp", "is not <= hi"}));
}

}  // namespace
}  // namespace vramkit
