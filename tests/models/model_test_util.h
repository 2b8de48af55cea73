// What the model parity tests share: the relative L2 error against a reference, and the memory modes every
// model must give the same bits in (the DiffSynth-Studio presets with bf16 storage, nothing resident).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "vram/manager.h"
#include "vram/vram_config.h"

namespace vramkit::test {

// ‖a − b‖₂ / ‖b‖₂ in double; the sizes must agree.
inline double relative_l2(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// The same for tensors, whose shapes must agree.
inline double relative_l2(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  return relative_l2(got.to_floats(), want.to_floats());
}

// A reference key list: one "name (d0, d1, ...)" line per tensor, in file order (a line that does not parse
// is a test failure).
inline std::vector<std::pair<std::string, Shape>> read_key_list(const std::filesystem::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<std::pair<std::string, Shape>> keys;
  const std::regex line_re(R"(^(\S+) \(([0-9, ]+)\)$)");
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, line_re)) {
      ADD_FAILURE() << "unparsed line " << line;
      continue;
    }
    std::vector<std::int64_t> dims;
    std::stringstream ss(m[2].str());
    for (std::string d; std::getline(ss, d, ',');)
      if (d.find_first_not_of(' ') != std::string::npos) dims.push_back(std::stoll(d));
    keys.emplace_back(m[1].str(), Shape(std::span<const std::int64_t>(dims)));
  }
  return keys;
}

// The released transformer's tensors (tests/data/qwen_image_dit_full_keys.txt) for its first `layers` blocks,
// the list's "{i}" standing for every block index.
inline std::map<std::string, Shape> dit_reference_keys(std::int64_t layers) {
  std::map<std::string, Shape> keys;
  for (const auto& [name, shape] :
       read_key_list(std::filesystem::path(VRAMKIT_TEST_DATA) / "qwen_image_dit_full_keys.txt")) {
    const auto brace = name.find("{i}");
    if (brace == std::string::npos) {
      keys.emplace(name, shape);
      continue;
    }
    for (std::int64_t i = 0; i < layers; ++i)
      keys.emplace(name.substr(0, brace) + std::to_string(i) + name.substr(brace + 3), shape);
  }
  return keys;
}

struct Mode {
  std::string name;
  VramConfig config;
  std::optional<std::uint64_t> vram_limit;
  bool block_units = false;  // ManagerOptions::block_units (models without blocks ignore it)
  bool native_fp8_gemm = false;  // ManagerOptions::native_fp8_gemm
};

// The VRAM manager's options with a VRAM limit (unset: none; 0: nothing resident) and unit grouping.
inline ManagerOptions manager_options(std::optional<std::uint64_t> vram_limit, bool block_units = false) {
  ManagerOptions options;
  options.vram_limit = vram_limit;
  options.block_units = block_units;
  return options;
}

// Those of a memory mode.
inline ManagerOptions manager_options(const Mode& mode) {
  ManagerOptions options = manager_options(mode.vram_limit, mode.block_units);
  options.native_fp8_gemm = mode.native_fp8_gemm;
  return options;
}

inline VramConfig with_computation(VramConfig c, DType dtype) {
  c.computation_dtype = StorageDType::of(dtype);
  return c;
}

// basic (everything resident), dynamic with nothing resident (leaf units, then block units), and disk, all
// computing in `computation`.
inline std::vector<Mode> memory_modes(DType computation) {
  const auto bf16 = [](const char* preset) {
    return VramConfig::preset(preset).with_storage_dtype(DType::bf16);
  };
  return {{"basic", with_computation(VramConfig::preset("none"), computation), std::nullopt},
          {"dynamic, nothing resident", with_computation(bf16("dynamic"), computation), 0},
          {"dynamic, block units, nothing resident", with_computation(bf16("dynamic"), computation), 0, true},
          {"disk", with_computation(bf16("disk"), computation), 0}};
}

// The fp8 modes with ManagerOptions::native_fp8_gemm: fp8 resident, and dynamic (fp8 streamed) with nothing
// resident, in leaf then block units; all computing in `computation`. (The disk preset streams the file's
// dtype, which differs from its fp8 resident dtype, so its weights are upcast: not a native fp8 mode.)
inline std::vector<Mode> native_fp8_modes(DType computation) {
  return {
      {"fp8 resident", with_computation(VramConfig::preset("fp8"), computation), std::nullopt, false, true},
      {"dynamic fp8, nothing resident", with_computation(VramConfig::preset("dynamic"), computation), 0,
       false, true},
      {"dynamic fp8, block units, nothing resident",
       with_computation(VramConfig::preset("dynamic"), computation), 0, true, true}};
}

// Runs the cases under every mode of `modes` (`run` gives their outputs): each within `tolerance` (relative
// L2) of its expected tensor, and bit for bit the first mode's in every mode. The first mode's errors are
// printed.
inline void expect_every_mode_matches(const std::vector<Mode>& modes, DType computation, double tolerance,
                                      const std::vector<Tensor>& expected,
                                      const std::function<std::vector<Tensor>(const Mode&)>& run) {
  std::vector<std::vector<float>> first;
  for (const Mode& mode : modes) {
    SCOPED_TRACE(mode.name);
    const std::vector<Tensor> out = run(mode);
    ASSERT_EQ(out.size(), expected.size());
    std::vector<std::vector<float>> values;
    for (std::size_t i = 0; i < out.size(); ++i) {
      const double err = relative_l2(out[i], expected[i]);
      EXPECT_LE(err, tolerance) << "case " << i;
      if (first.empty())
        std::printf("[ %s %s case %zu ] relative L2 error %.3g\n", out[i].device().str().c_str(),
                    std::string(dtype_name(computation)).c_str(), i, err);
      values.push_back(out[i].to_floats());
      if (!first.empty())
        EXPECT_EQ(values.back(), first[i]) << "case " << i << " differs from " << modes.front().name;
    }
    if (first.empty()) first = std::move(values);
  }
}

// The same under memory_modes(computation), the basic mode first.
inline void expect_every_mode_matches(DType computation, double tolerance,
                                      const std::vector<Tensor>& expected,
                                      const std::function<std::vector<Tensor>(const Mode&)>& run) {
  expect_every_mode_matches(memory_modes(computation), computation, tolerance, expected, run);
}

}  // namespace vramkit::test
