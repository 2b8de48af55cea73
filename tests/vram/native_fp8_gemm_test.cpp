// ManagerOptions::native_fp8_gemm with the synthetic model on the emulated device: GEMM weights stored in the
// same fp8 dtype streamed and resident are handed out as their fp8 codes with their per-row scales (which
// decode to exactly the weights the upcast would give), everything else as before, and the staging the plan
// reserves shrinks by the upcast buffers no longer needed.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "backends/emu/emu_accelerator.h"
#include "core/convert.h"
#include "synthetic_model.h"
#include "vram/managed_model.h"
#include "vram/manager.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

constexpr std::size_t kMiB = 1 << 20;

class NativeFp8Gemm : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::test_folder(std::filesystem::temp_directory_path(), "vramkit_native_fp8");
    files_ = model_.write(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<ManagedModel> add(VramManager& manager, const VramConfig& config,
                                    ModelOptions options = {}) {
    return manager.add_model("synthetic", files_, leaf_module_units(*files_), config, std::move(options));
  }

  std::filesystem::path dir_;
  testing::SyntheticModel model_;
  std::shared_ptr<const WeightFiles> files_;
};

ManagerOptions native(std::optional<std::uint64_t> limit) {
  ManagerOptions o;
  o.vram_limit = limit;
  o.native_fp8_gemm = true;
  return o;
}

// The weights each block's linear lease hands out, decoded to f32 and rounded to bf16 as the upcast rounds
// them: scale[r] · code for an fp8 lease.
std::vector<std::vector<float>> leased_weights(ManagedModel& model, int blocks, DType expected_dtype) {
  std::vector<std::vector<float>> out;
  for (int b = 0; b < blocks; ++b) {
    const std::string p = "blocks." + std::to_string(b);
    const UnitLease lin = model.acquire(model.unit_index(p + ".linear"));
    const Tensor& w = lin.get(p + ".linear.weight");
    EXPECT_EQ(w.dtype(), expected_dtype) << p;
    std::vector<float> v = w.to_floats();
    const Tensor& scale = lin.scale(p + ".linear.weight");
    if (expected_dtype == DType::f8_e4m3fn) {
      EXPECT_TRUE(scale.defined()) << p;
      EXPECT_EQ(scale.shape(), (Shape{w.size(0)}));
      const std::vector<float> s = scale.to_floats();
      for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = bf16_to_f32(f32_to_bf16(v[i] * s[i / static_cast<std::size_t>(w.size(1))]));
    } else {
      EXPECT_FALSE(scale.defined()) << p;
    }
    // Biases and norms stay in the computation dtype, without scales.
    EXPECT_EQ(lin.get(p + ".linear.bias").dtype(), DType::bf16);
    EXPECT_FALSE(lin.scale(p + ".linear.bias").defined());
    const UnitLease norm = model.acquire(model.unit_index(p + ".norm"));
    EXPECT_EQ(norm.get(p + ".norm.weight").dtype(), DType::bf16);
    out.push_back(std::move(v));
  }
  return out;
}

// The computation dtype of a linear unit's weight.
DType weight_compute_dtype(const UnitLayout& unit) {
  for (std::size_t i = 0; i < unit.sources.size(); ++i)
    if (unit.sources[i]->name().ends_with(".weight")) return unit.compute_dtypes[i];
  ADD_FAILURE() << unit.name << " has no weight";
  return DType::f32;
}

TEST_F(NativeFp8Gemm, HandsOutScaledCodesThatDecodeToTheUpcastWeights) {
  auto emu = std::make_shared<EmuAccelerator>(EmuOptions{64 * kMiB, 0, 0});
  std::vector<std::vector<float>> upcast;
  {
    VramManager manager(emu, {});
    auto model = add(manager, VramConfig::preset("fp8"));
    model->onload();
    upcast = leased_weights(*model, model_.blocks, DType::bf16);
  }
  struct Mode {
    const char* name;
    const char* preset;
    std::optional<std::uint64_t> limit;
  };
  for (const Mode& mode : {Mode{"fp8 resident", "fp8", std::nullopt}, Mode{"fp8 streamed", "dynamic", 0},
                           Mode{"fp8 half resident", "dynamic", 100 * 1024}}) {
    SCOPED_TRACE(mode.name);
    VramManager manager(emu, native(mode.limit));
    auto model = add(manager, VramConfig::preset(mode.preset));
    model->onload();
    EXPECT_EQ(leased_weights(*model, model_.blocks, DType::f8_e4m3fn), upcast);
    model->offload();
  }
  EXPECT_EQ(emu->device_allocator()->allocated_bytes(), 0u);
}

TEST_F(NativeFp8Gemm, NoUpcastBufferSoLessStaging) {
  auto emu = std::make_shared<EmuAccelerator>(EmuOptions{64 * kMiB, 0, 0});
  VramManager upcasting(emu, {.vram_limit = 0});
  VramManager in_place(emu, native(0));
  const auto a = add(upcasting, VramConfig::preset("dynamic"));
  const auto b = add(in_place, VramConfig::preset("dynamic"));
  const UnitLayout& up = a->units()[a->unit_index("blocks.0.linear")];
  const UnitLayout& fp8 = b->units()[b->unit_index("blocks.0.linear")];
  const std::uint64_t weight_bf16 = static_cast<std::uint64_t>(model_.dim) * model_.dim * 2;
  // Without the flag the weight has a bf16 upcast target from either place; with it, none (the bias is
  // streamed in bf16 already and needs none either way).
  EXPECT_EQ(up.compute_from_stream.bytes, weight_bf16);
  EXPECT_EQ(up.compute_from_resident.bytes, weight_bf16);
  EXPECT_EQ(fp8.compute_from_stream.bytes, 0u);
  EXPECT_EQ(fp8.compute_from_resident.bytes, 0u);
  EXPECT_EQ(weight_compute_dtype(fp8), DType::f8_e4m3fn);
  EXPECT_EQ(fp8.staging_bytes(), up.staging_bytes() - weight_bf16);
  EXPECT_EQ(fp8.stream.bytes, up.stream.bytes);  // the same bytes cross the bus
  const Plan pa = a->make_plan(), pb = b->make_plan();
  EXPECT_EQ(pb.largest_staging_bytes, pa.largest_staging_bytes - weight_bf16);
  EXPECT_LT(pb.ring_bytes, pa.ring_bytes);
}

TEST_F(NativeFp8Gemm, OnlyGemmWeightsStoredInOneFp8DtypeStayFp8) {
  auto emu = std::make_shared<EmuAccelerator>(EmuOptions{64 * kMiB, 0, 0});
  VramManager manager(emu, native(0));
  const auto compute_dtype = [](const ManagedModel& m) {
    return weight_compute_dtype(m.units()[m.unit_index("blocks.0.linear")]);
  };
  // Streamed from disk, the weight crosses the bus as the file's bf16 while the resident copy would be fp8:
  // the two places differ, so it is upcast as before.
  EXPECT_EQ(compute_dtype(*add(manager, VramConfig::preset("disk"))), DType::bf16);
  // bf16 storage has no fp8 to keep.
  EXPECT_EQ(compute_dtype(*add(manager, VramConfig::preset("dynamic").with_storage_dtype(DType::bf16))),
            DType::bf16);
  // A model's own predicate decides which weights are GEMM weights.
  ModelOptions none;
  none.gemm_weight = [](const WeightTensor&) { return false; };
  EXPECT_EQ(compute_dtype(*add(manager, VramConfig::preset("dynamic"), none)), DType::bf16);
  // The default predicate: rank 2, a ".weight", not sensitive.
  ModelOptions all_sensitive;
  all_sensitive.sensitive = [](const WeightTensor&) { return true; };
  EXPECT_EQ(compute_dtype(*add(manager, VramConfig::preset("dynamic"), all_sensitive)), DType::bf16);
  EXPECT_EQ(compute_dtype(*add(manager, VramConfig::preset("dynamic"))), DType::f8_e4m3fn);
}

}  // namespace
}  // namespace vramkit
