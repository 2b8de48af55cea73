// The conversion golden vectors of tests/data/convert (made by tools/golden/make_convert_vectors.py with
// ml_dtypes and numpy), and the comparison rules the conversion tests share.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "core/convert.h"
#include "core/dtype.h"

namespace vramkit::convert_test {

// A whole little-endian file of T (the test machines are little-endian, as the engine assumes).
template <typename T>
std::vector<T> read_golden(const std::string& name) {
  const std::string path = std::string(VRAMKIT_TEST_DATA) + "/convert/" + name;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("missing golden file " + path);
  const auto bytes = static_cast<std::size_t>(in.tellg());
  if (bytes % sizeof(T) != 0) throw std::runtime_error("golden file " + path + " has a partial element");
  std::vector<T> out(bytes / sizeof(T));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(bytes));
  return out;
}

struct EncodeSweep {
  std::vector<float> inputs;
  std::vector<std::uint16_t> bf16, f16;
  std::vector<std::uint8_t> e4m3fn, e5m2;
};

inline const EncodeSweep& encode_sweep() {
  static const EncodeSweep sweep = [] {
    EncodeSweep s;
    for (std::uint32_t bits : read_golden<std::uint32_t>("encode_input.u32"))
      s.inputs.push_back(std::bit_cast<float>(bits));
    s.bf16 = read_golden<std::uint16_t>("encode_bf16.u16");
    s.f16 = read_golden<std::uint16_t>("encode_f16.u16");
    s.e4m3fn = read_golden<std::uint8_t>("encode_f8_e4m3fn.u8");
    s.e5m2 = read_golden<std::uint8_t>("encode_f8_e5m2.u8");
    return s;
  }();
  return sweep;
}

inline float decode(DType dt, std::uint32_t code) {
  switch (dt) {
    case DType::bf16:
      return bf16_to_f32(static_cast<std::uint16_t>(code));
    case DType::f16:
      return f16_to_f32(static_cast<std::uint16_t>(code));
    case DType::f8_e4m3fn:
      return f8_e4m3fn_to_f32(static_cast<std::uint8_t>(code));
    default:
      return f8_e5m2_to_f32(static_cast<std::uint8_t>(code));
  }
}

// Equal bits, or both NaN with the same sign (NaN payloads are not part of the contract with the reference).
inline bool same_float(float got, float want) {
  if (std::isnan(want)) return std::isnan(got) && std::signbit(got) == std::signbit(want);
  return std::bit_cast<std::uint32_t>(got) == std::bit_cast<std::uint32_t>(want);
}

// The same rule for codes of a narrow format.
inline bool same_code(DType dt, std::uint32_t got, std::uint32_t want) {
  return got == want || same_float(decode(dt, got), decode(dt, want));
}

// The saturating fp8 expectation from ml_dtypes' plain cast: a non-NaN input whose plain result is NaN or Inf
// (beyond the largest finite value, or ±Inf itself) becomes ±max.
inline std::uint8_t saturated_fp8(DType dt, float input, std::uint8_t plain) {
  const float value = decode(dt, plain);
  if (std::isnan(input) || std::isfinite(value)) return plain;
  const std::uint8_t max_code = dt == DType::f8_e4m3fn ? 0x7e : 0x7b;
  return static_cast<std::uint8_t>((std::signbit(input) ? 0x80 : 0x00) | max_code);
}

}  // namespace vramkit::convert_test
