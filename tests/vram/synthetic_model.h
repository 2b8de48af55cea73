// A synthetic streamed model for the VRAM tests: N blocks of (linear D->D with bias, RMS norm with weight),
// stored as bf16 in a safetensors file, and its forward pass written against the manager's leases with plain
// loops (independent of the ops library), so that every memory mode can be compared on the same arithmetic.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/model_files.h"
#include "io/safetensors.h"
#include "vram/managed_model.h"

namespace vramkit::testing {

// A fresh folder for the running test under `parent`, "<prefix>_<pid>_<test name>" (the test removes it).
inline std::filesystem::path test_folder(const std::filesystem::path& parent, const std::string& prefix) {
  const auto dir = parent / (prefix + "_" + std::to_string(::getpid()) + "_" +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::create_directories(dir);
  return dir;
}

struct SyntheticModel {
  int blocks = 6;
  int dim = 96;
  int tokens = 5;
  std::filesystem::path path;

  // Writes the checkpoint (bf16, deterministic values; block i's weights scaled by 2^(i%5) so that per-channel
  // scaling matters) and returns the opened files.
  std::shared_ptr<const WeightFiles> write(const std::filesystem::path& dir) {
    path = dir / "synthetic.safetensors";
    std::mt19937 rng(11);
    std::normal_distribution<float> normal;
    std::vector<std::pair<std::string, Tensor>> tensors;
    const auto make = [&](const Shape& shape, float scale, float offset) {
      std::vector<float> v(static_cast<std::size_t>(shape.numel()));
      for (float& x : v) x = offset + scale * normal(rng);
      return Tensor::from_floats(shape, v).to(DType::bf16);
    };
    for (int b = 0; b < blocks; ++b) {
      const std::string p = "blocks." + std::to_string(b);
      const float s = std::exp2(static_cast<float>(b % 5)) / std::sqrt(static_cast<float>(dim));
      tensors.emplace_back(p + ".linear.weight", make({dim, dim}, s, 0));
      tensors.emplace_back(p + ".linear.bias", make({dim}, 0.1f, 0));
      tensors.emplace_back(p + ".norm.weight", make({dim}, 0.1f, 1));
    }
    write_safetensors(path, tensors);
    return std::make_shared<const WeightFiles>(WeightFiles::open(path));
  }

  std::vector<float> input() const {
    std::vector<float> x(static_cast<std::size_t>(tokens * dim));
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
    return x;
  }

  // x <- rmsnorm(x W^T + b) * g for every block, reading weights through leases acquired in execution order.
  std::vector<float> forward(ManagedModel& model) const {
    std::vector<float> x = input(), y(x.size());
    for (int b = 0; b < blocks; ++b) {
      const std::string p = "blocks." + std::to_string(b);
      {
        UnitLease lin = model.acquire(model.unit_index(p + ".linear"));
        const std::vector<float> w = lin.get(p + ".linear.weight").to_floats();
        const std::vector<float> bias = lin.get(p + ".linear.bias").to_floats();
        for (int t = 0; t < tokens; ++t)
          for (int o = 0; o < dim; ++o) {
            float acc = bias[static_cast<std::size_t>(o)];
            for (int i = 0; i < dim; ++i)
              acc += x[static_cast<std::size_t>(t * dim + i)] * w[static_cast<std::size_t>(o * dim + i)];
            y[static_cast<std::size_t>(t * dim + o)] = acc;
          }
      }
      UnitLease norm = model.acquire(model.unit_index(p + ".norm"));
      const std::vector<float> g = norm.get(p + ".norm.weight").to_floats();
      for (int t = 0; t < tokens; ++t) {
        float ss = 0;
        for (int i = 0; i < dim; ++i) ss += y[static_cast<std::size_t>(t * dim + i)] * y[static_cast<std::size_t>(t * dim + i)];
        const float r = 1.0f / std::sqrt(ss / static_cast<float>(dim) + 1e-6f);
        for (int i = 0; i < dim; ++i)
          x[static_cast<std::size_t>(t * dim + i)] = y[static_cast<std::size_t>(t * dim + i)] * r * g[static_cast<std::size_t>(i)];
      }
    }
    return x;
  }
};

}  // namespace vramkit::testing
