// Internal: the contiguous kernels behind the bulk convert(), per instruction set, and a switch that makes
// convert() use the portable ones (tests check the vector kernels against them; benchmarks compare speeds).
//
// Every kernel set produces exactly the bits of the scalar functions in convert.h, NaN payloads included.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vramkit::detail {

struct ConvertKernels {
  const char* name;
  void (*bf16_to_f32)(const std::uint16_t* src, float* dst, std::size_t n);
  void (*f16_to_f32)(const std::uint16_t* src, float* dst, std::size_t n);
  void (*f8_e4m3fn_to_f32)(const std::uint8_t* src, float* dst, std::size_t n);
  void (*f8_e5m2_to_f32)(const std::uint8_t* src, float* dst, std::size_t n);
  void (*f32_to_bf16)(const float* src, std::uint16_t* dst, std::size_t n);
  void (*f32_to_f16)(const float* src, std::uint16_t* dst, std::size_t n);
  void (*f32_to_f8_e4m3fn)(const float* src, std::uint8_t* dst, std::size_t n, bool saturate);
  void (*f32_to_f8_e5m2)(const float* src, std::uint8_t* dst, std::size_t n, bool saturate);
};

// Portable loops over the scalar functions.
const ConvertKernels& scalar_convert_kernels();

// The AVX2 + F16C set, or nullptr when this CPU (or this build's architecture) lacks AVX2, F16C or FMA.
const ConvertKernels* avx2_convert_kernels();

// The set convert() uses on this thread: the AVX2 one when available, unless a ScalarConvertScope is alive.
const ConvertKernels& active_convert_kernels();

// While alive, convert() and convert_strided() on this thread use the scalar kernels. Scopes nest.
class ScalarConvertScope {
 public:
  ScalarConvertScope();
  ~ScalarConvertScope();
  ScalarConvertScope(const ScalarConvertScope&) = delete;
  ScalarConvertScope& operator=(const ScalarConvertScope&) = delete;
};

}  // namespace vramkit::detail
