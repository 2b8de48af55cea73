// The portable conversion kernels and the run-time choice between them and the AVX2 ones.
//
// This file is compiled for the baseline architecture: the CPU check must run before any AVX2 instruction,
// so it lives here and not in convert_avx2.cpp.
#include "core/convert.h"
#include "core/convert_simd.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace vramkit::detail {

#if defined(__x86_64__) || defined(__i386__)
// Defined in convert_avx2.cpp (compiled with -mavx2 -mf16c -mfma); only to be used once the CPU is checked.
const ConvertKernels& avx2_convert_kernels_unchecked();
#endif

namespace {

#if defined(__x86_64__) || defined(__i386__)
// F16C from CPUID leaf 1 (ECX bit 29): clang before 15 has no "f16c" for __builtin_cpu_supports. The OS's
// support of the AVX state it needs is part of the "avx2" check.
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}
#endif

template <typename In, typename Out, Out (*scalar)(In)>
void each(const In* src, Out* dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = scalar(src[i]);
}

template <std::uint8_t (*scalar)(float, bool)>
void each_fp8(const float* src, std::uint8_t* dst, std::size_t n, bool saturate) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = scalar(src[i], saturate);
}

constexpr ConvertKernels kScalarKernels{
    "scalar",
    each<std::uint16_t, float, bf16_to_f32>,
    each<std::uint16_t, float, f16_to_f32>,
    each<std::uint8_t, float, f8_e4m3fn_to_f32>,
    each<std::uint8_t, float, f8_e5m2_to_f32>,
    each<float, std::uint16_t, f32_to_bf16>,
    each<float, std::uint16_t, f32_to_f16>,
    each_fp8<f32_to_f8_e4m3fn>,
    each_fp8<f32_to_f8_e5m2>,
};

thread_local int scalar_scope_depth = 0;

}  // namespace

const ConvertKernels& scalar_convert_kernels() {
  return kScalarKernels;
}

const ConvertKernels* avx2_convert_kernels() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool supported =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
  return supported ? &avx2_convert_kernels_unchecked() : nullptr;
#else
  return nullptr;
#endif
}

const ConvertKernels& active_convert_kernels() {
  static const ConvertKernels* const fastest = avx2_convert_kernels();
  if (fastest == nullptr || scalar_scope_depth > 0) return kScalarKernels;
  return *fastest;
}

ScalarConvertScope::ScalarConvertScope() {
  ++scalar_scope_depth;
}
ScalarConvertScope::~ScalarConvertScope() {
  --scalar_scope_depth;
}

}  // namespace vramkit::detail
