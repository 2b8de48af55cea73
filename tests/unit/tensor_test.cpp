#include "core/tensor.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "vramkit/error.h"

namespace vramkit {
namespace {

// A host f32 tensor with values 0, 1, 2, ... in row-major order.
Tensor iota(const Shape& shape) {
  std::vector<float> v(static_cast<std::size_t>(shape.numel()));
  std::iota(v.begin(), v.end(), 0.0f);
  return Tensor::from_floats(shape, v);
}

double at(const Tensor& t, std::initializer_list<std::int64_t> idx) {
  return t.item_as_double(std::span<const std::int64_t>(idx.begin(), idx.size()));
}

TEST(Shape, NumelStridesAndLimits) {
  const Shape s{2, 3, 4};
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(contiguous_strides(s), (Shape{12, 4, 1}));
  EXPECT_EQ(Shape{}.numel(), 1);
  EXPECT_EQ(s.str(), "[2, 3, 4]");
  EXPECT_THROW((Shape{1, 1, 1, 1, 1, 1, 1, 1, 1}), ShapeError);
  EXPECT_THROW((Shape{-1}), ShapeError);
  EXPECT_THROW((Shape{1ll << 40, 1ll << 40}.numel()), ShapeError);
}

TEST(Device, ParsesAndRejects) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("cuda"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:3"), Device::cuda(3));
  EXPECT_EQ(Device::parse("emu:1"), Device::emu(1));
  EXPECT_EQ(Device::cuda(2).str(), "cuda:2");
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "cpu:0", "cuda:1x", "", "CUDA"}) {
    try {
      Device::parse(bad);
      FAIL() << "accepted '" << bad << "'";
    } catch (const ArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(DTypeNames, ParseAliasesAndErrors) {
  EXPECT_EQ(parse_dtype("bfloat16"), DType::bf16);
  EXPECT_EQ(parse_dtype("BF16"), DType::bf16);
  EXPECT_EQ(parse_dtype("fp8"), DType::f8_e4m3fn);
  EXPECT_EQ(parse_dtype("float8_e5m2"), DType::f8_e5m2);
  EXPECT_EQ(parse_dtype("float32"), DType::f32);
  EXPECT_EQ(parse_dtype("bool"), DType::boolean);
  EXPECT_THROW(parse_dtype("float12"), ArgumentError);
  DType d;
  EXPECT_TRUE(dtype_from_safetensors("F8_E4M3", &d));
  EXPECT_EQ(d, DType::f8_e4m3fn);
  EXPECT_FALSE(dtype_from_safetensors("f32", &d));
  for (DType dt : kAllDTypes) {
    EXPECT_EQ(parse_dtype(dtype_name(dt)), dt);
    DType back;
    ASSERT_TRUE(dtype_from_safetensors(dtype_safetensors_name(dt), &back));
    EXPECT_EQ(back, dt);
  }
}

TEST(Tensor, EmptyZerosAndAccounting) {
  const auto before = host_allocator()->allocated_bytes();
  {
    Tensor t = Tensor::zeros({3, 5}, DType::bf16);
    EXPECT_EQ(t.nbytes(), 30u);
    EXPECT_EQ(host_allocator()->allocated_bytes(), before + 30);
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % kDefaultAlignment, 0u);
    EXPECT_EQ(at(t, {2, 4}), 0.0);
  }
  EXPECT_EQ(host_allocator()->allocated_bytes(), before);
}

TEST(Tensor, SliceSelectAreViews) {
  Tensor t = iota({4, 6});
  Tensor s = t.slice(1, 1, 5, 2);  // columns 1 and 3
  EXPECT_EQ(s.shape(), (Shape{4, 2}));
  EXPECT_EQ(s.storage(), t.storage());
  EXPECT_FALSE(s.is_contiguous());
  EXPECT_EQ(at(s, {2, 1}), 15.0);
  Tensor r = t.select(0, -1);
  EXPECT_EQ(r.shape(), (Shape{6}));
  EXPECT_EQ(at(r, {0}), 18.0);
  t.data_as<float>()[19] = 100.0f;  // writes through to the view
  EXPECT_EQ(at(r, {1}), 100.0);
  EXPECT_EQ(t.slice(0, 2, 2).numel(), 0);
  EXPECT_THROW(t.slice(0, 3, 5), ShapeError);
  EXPECT_THROW(t.slice(2, 0, 1), ShapeError);
  EXPECT_THROW(t.select(1, 6), ShapeError);
}

TEST(Tensor, PermuteTransposeContiguous) {
  Tensor t = iota({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(at(p, {3, 1, 2}), at(t, {1, 2, 3}));
  Tensor c = p.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.storage(), t.storage());
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t j = 0; j < 2; ++j)
      for (std::int64_t k = 0; k < 3; ++k) EXPECT_EQ(at(c, {i, j, k}), at(t, {j, k, i}));
  EXPECT_EQ(t.transpose(0, -1).shape(), (Shape{4, 3, 2}));
  EXPECT_THROW(t.permute({0, 0, 1}), ShapeError);
  EXPECT_THROW(t.permute({0, 1}), ShapeError);
}

TEST(Tensor, ReshapeViewsWhenStridesAllow) {
  Tensor t = iota({2, 3, 4});
  Tensor r = t.reshape({6, 4});
  EXPECT_EQ(r.storage(), t.storage());
  EXPECT_EQ(at(r, {5, 3}), 23.0);
  const std::int64_t infer[] = {4, -1};
  EXPECT_EQ(t.reshape_infer(infer).shape(), (Shape{4, 6}));
  // A column slice keeps rows of 4 contiguous elements with a gap: splitting and merging the leading
  // dims is still a view, merging across the gap is not.
  Tensor s = iota({6, 8}).slice(1, 0, 4);
  Tensor v = s.reshape({2, 3, 4});
  EXPECT_EQ(at(v, {1, 2, 3}), at(s, {5, 3}));
  EXPECT_THROW(s.reshape({24}), ShapeError);
  EXPECT_EQ(s.contiguous().reshape({24}).numel(), 24);
  // Size-1 dims anywhere take any stride.
  Tensor u = s.unsqueeze(1).reshape({6, 1, 2, 2});
  EXPECT_EQ(at(u, {4, 0, 1, 1}), at(s, {4, 3}));
  EXPECT_THROW(t.reshape({5, 5}), ShapeError);
}

TEST(Tensor, ExpandRepeatsSizeOneDimsWithStrideZero) {
  const Tensor t = Tensor::from_floats({2, 1}, std::vector<float>{1, 2});
  const Tensor e = t.expand({3, 2, 4});
  EXPECT_EQ(e.shape(), (Shape{3, 2, 4}));
  EXPECT_EQ(e.strides(), (Shape{0, 1, 0}));
  EXPECT_EQ(e.contiguous().to_floats(),
            (std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2}));
  EXPECT_THROW(t.expand({3, 4}), ShapeError);  // 2 cannot become 3
  EXPECT_THROW(t.expand({4}), ShapeError);     // fewer dimensions
}

TEST(Tensor, UnsqueezeSqueeze) {
  Tensor t = iota({3, 4});
  EXPECT_EQ(t.unsqueeze(0).shape(), (Shape{1, 3, 4}));
  EXPECT_EQ(t.unsqueeze(-1).shape(), (Shape{3, 4, 1}));
  EXPECT_EQ(t.unsqueeze(1).squeeze(1).shape(), (Shape{3, 4}));
  EXPECT_THROW(t.squeeze(0), ShapeError);
}

TEST(Tensor, ConvertingCopyFromStridedSource) {
  Tensor t = iota({4, 4}).transpose(0, 1);
  Tensor b = t.to(DType::bf16);
  EXPECT_TRUE(b.is_contiguous());
  EXPECT_EQ(at(b, {1, 2}), 9.0);
  Tensor back = b.to(DType::f32);
  EXPECT_EQ(back.to_floats(), t.contiguous().to_floats());
  Tensor i = t.to(DType::i64);
  EXPECT_EQ(at(i, {3, 3}), 15.0);
  Tensor dst = Tensor::zeros({4, 3}, DType::f16);
  EXPECT_THROW(dst.copy_from(t), ShapeError);
}

TEST(Tensor, ExternalStorageKeepsOwnerAlive) {
  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4});
  std::weak_ptr<std::vector<float>> watch = owner;
  Tensor t = Tensor::from_storage(
      Storage::external(owner->data(), owner->size() * sizeof(float), Device::cpu(), owner), 4, {3}, DType::f32);
  owner.reset();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(at(t, {2}), 4.0);
  EXPECT_FALSE(t.storage()->owned());
  t = Tensor();
  EXPECT_TRUE(watch.expired());
  auto small = Storage::external(nullptr, 0, Device::cpu(), nullptr);
  EXPECT_THROW(Tensor::from_storage(small, 0, {1}, DType::f32), ShapeError);
}

TEST(Allocator, CapRefusesWithOutOfMemory) {
  HostAllocator a;
  a.set_cap(1000);
  void* p = a.allocate(600);
  EXPECT_EQ(a.allocated_bytes(), 600u);
  try {
    a.allocate(500);
    FAIL();
  } catch (const OutOfMemory& e) {
    EXPECT_EQ(e.bytes(), 500u);
    EXPECT_EQ(e.device(), "cpu");
  }
  EXPECT_EQ(a.allocated_bytes(), 600u);
  a.deallocate(p, 600);
  EXPECT_EQ(a.allocated_bytes(), 0u);
  EXPECT_EQ(a.peak_bytes(), 600u);
  EXPECT_THROW(a.allocate(8, 3), ArgumentError);
}

}  // namespace
}  // namespace vramkit
