// Device conversions against the CPU conversions (themselves checked against ml_dtypes): every 16-bit and
// 8-bit code decoded, and a sweep of f32 values encoded, must agree bit for bit (NaN: NaN of the same sign);
// the row-scaled upcast on its packed path (aligned buffers, rows of whole packs) and its per-element path.
#include "ops/cuda/convert_cuda.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_device.h"
#include "core/convert.h"
#include "cuda_test_util.h"
#include "vram/fp8_scaling.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

std::vector<std::uint8_t> convert_on_device(const void* host_src, DType from, DType to, std::size_t n,
                                            bool saturate) {
  cuda::DeviceBuffer src(n * dtype_size(from)), dst(n * dtype_size(to));
  src.copy_from_host(host_src, n * dtype_size(from));
  cuda::launch_convert(src.data(), from, dst.data(), to, n, saturate, nullptr);
  std::vector<std::uint8_t> out(n * dtype_size(to));
  dst.copy_to_host(out.data(), out.size());
  return out;
}

// Decodes element i of a buffer of dtype dt to f32 on the CPU.
float host_value(const std::vector<std::uint8_t>& buf, DType dt, std::size_t i) {
  float f;
  convert(buf.data() + i * dtype_size(dt), dt, &f, DType::f32, 1);
  return f;
}

void expect_same(const std::vector<std::uint8_t>& got, const std::vector<std::uint8_t>& want, DType dt,
                 const char* what) {
  ASSERT_EQ(got.size(), want.size());
  const std::size_t es = dtype_size(dt);
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < got.size() / es; ++i) {
    if (std::memcmp(&got[i * es], &want[i * es], es) == 0) continue;
    const float g = host_value(got, dt, i), w = host_value(want, dt, i);
    if (std::isnan(g) && std::isnan(w) && std::signbit(g) == std::signbit(w)) continue;
    if (++mismatches <= 5) ADD_FAILURE() << what << " element " << i << ": device " << g << " host " << w;
  }
  EXPECT_EQ(mismatches, 0u) << what;
}

TEST(CudaConvert, EveryCodeDecodesLikeTheCpu) {
  VRAMKIT_REQUIRE_CUDA();
  for (DType dt : {DType::bf16, DType::f16, DType::f8_e4m3fn, DType::f8_e5m2}) {
    const std::size_t n = dtype_size(dt) == 2 ? 65536 : 256;
    std::vector<std::uint8_t> codes(n * dtype_size(dt));
    for (std::size_t i = 0; i < n; ++i) std::memcpy(&codes[i * dtype_size(dt)], &i, dtype_size(dt));
    std::vector<std::uint8_t> want(n * 4);
    convert(codes.data(), dt, want.data(), DType::f32, n);
    expect_same(convert_on_device(codes.data(), dt, DType::f32, n, true), want, DType::f32, dtype_name(dt).data());
  }
}

TEST(CudaConvert, F32SweepEncodesLikeTheCpu) {
  VRAMKIT_REQUIRE_CUDA();
  // Every 2^13-th f32 bit pattern plus random values around each format's range and its specials.
  std::vector<float> values;
  for (std::uint64_t u = 0; u < (1ull << 32); u += 8191) values.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(u)));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> exponent(-30.0f, 20.0f);
  for (int i = 0; i < 200000; ++i) values.push_back((i % 2 ? -1.0f : 1.0f) * std::exp2(exponent(rng)));
  for (float v : {0.0f, -0.0f, 448.0f, 464.0f, 480.0f, 57344.0f, 61440.0f, 65504.0f, 65520.0f, INFINITY, -INFINITY, NAN})
    values.push_back(v);
  for (DType dt : {DType::bf16, DType::f16, DType::f8_e4m3fn, DType::f8_e5m2}) {
    for (bool saturate : {true, false}) {
      std::vector<std::uint8_t> want(values.size() * dtype_size(dt));
      convert(values.data(), DType::f32, want.data(), dt, values.size(), ConvertOptions{saturate});
      expect_same(convert_on_device(values.data(), DType::f32, dt, values.size(), saturate), want, dt,
                  dtype_name(dt).data());
    }
  }
}

// fp8 rows times their scales into bf16 / f16 / f32 (the weights' upcast), against the CPU's dequantize_rows:
// aligned buffers with rows of a multiple of 8 (packed: packs with a NaN code element by element, the others
// two codes at a time), buffers one element past an aligned address, rows of 301 (per element), rows of one
// pack and more of them than the grid has (the row loop), scales small enough for subnormal products, and a
// plain conversion whose last elements fill no pack.
TEST(CudaConvert, DequantizeRowsMatchesTheCpuOnEveryPath) {
  VRAMKIT_REQUIRE_CUDA();
  struct Case {
    std::size_t rows, cols, src_offset, dst_offset;
    int scale_exponent = -8;
  };
  std::mt19937 rng(11);
  for (DType fp8 : {DType::f8_e4m3fn, DType::f8_e5m2})
    for (DType to : {DType::bf16, DType::f16, DType::f32})
      for (const Case c : {Case{37, 3072, 0, 0}, Case{5, 64, 1, 0}, Case{5, 64, 0, 1}, Case{9, 301, 0, 0},
                           Case{300000, 8, 0, 0}, Case{12, 384, 0, 0, -132}}) {
        const std::size_t n = c.rows * c.cols, in_size = dtype_size(fp8), out_size = dtype_size(to);
        std::vector<std::uint8_t> codes(n);
        for (auto& b : codes) b = static_cast<std::uint8_t>(rng());
        std::vector<float> scales(c.rows);
        for (auto& v : scales)
          v = std::ldexp(1.0f + static_cast<float>(rng() % 1000) / 1000, c.scale_exponent);
        std::vector<std::uint8_t> want(n * out_size);
        dequantize_rows(codes.data(), fp8, c.rows, c.cols, want.data(), to, scales.data());
        cuda::DeviceBuffer src((n + c.src_offset) * in_size), dst((n + c.dst_offset) * out_size),
            dscales(c.rows * sizeof(float));
        auto* src_at = static_cast<std::uint8_t*>(src.data()) + c.src_offset * in_size;
        auto* dst_at = static_cast<std::uint8_t*>(dst.data()) + c.dst_offset * out_size;
        VRAMKIT_CUDA_CHECK(cudaMemcpy(src_at, codes.data(), n, cudaMemcpyHostToDevice));
        dscales.copy_from_host(scales.data(), c.rows * sizeof(float));
        cuda::launch_dequantize_rows(src_at, fp8, dst_at, to, c.rows, c.cols,
                                     static_cast<const float*>(dscales.data()), nullptr);
        std::vector<std::uint8_t> got(n * out_size);
        VRAMKIT_CUDA_CHECK(cudaMemcpy(got.data(), dst_at, got.size(), cudaMemcpyDeviceToHost));
        expect_same(got, want, to,
                    (std::string(dtype_name(fp8)) + " -> " + std::string(dtype_name(to)) + ", " +
                     std::to_string(c.rows) + " x " + std::to_string(c.cols) + ", offsets " +
                     std::to_string(c.src_offset) + " / " + std::to_string(c.dst_offset))
                        .c_str());
      }
  // 8 · 1000 + 5 elements: 1000 packs, then 5 elements one at a time.
  std::vector<float> values(8005);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = std::sin(static_cast<float>(i)) * 300;
  std::vector<std::uint8_t> want(values.size() * 2);
  convert(values.data(), DType::f32, want.data(), DType::bf16, values.size());
  expect_same(convert_on_device(values.data(), DType::f32, DType::bf16, values.size(), true), want,
              DType::bf16, "f32 -> bf16 with a tail");
}

TEST(CudaConvert, RejectsUnsupportedPairs) {
  EXPECT_THROW(cuda::launch_convert(nullptr, DType::i32, nullptr, DType::f32, 1, true, nullptr), DTypeError);
  EXPECT_FALSE(cuda::convert_supported(DType::i64));
  EXPECT_TRUE(cuda::convert_supported(DType::f8_e5m2));
}

TEST(CudaDevice, InfoOrCleanAbsence) {
  const int n = cuda::device_count();
  if (n == 0) {
    EXPECT_THROW(cuda::device_info(0), ArgumentError);
    return;
  }
  const auto info = cuda::device_info(0);
  EXPECT_FALSE(info.name.empty());
  EXPECT_GT(info.total_bytes, info.free_bytes / 2);
  EXPECT_THROW(cuda::device_info(n), ArgumentError);
}

}  // namespace
}  // namespace vramkit
