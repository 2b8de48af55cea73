// Bulk conversion between any two dtypes. Narrow floats (f32, f16, bf16, fp8) convert through f32 with the
// kernels of convert_simd.h (AVX2 when the CPU has it), in chunks when neither side is f32; pairs involving
// f64 or integers convert element by element through f64 so that integer values survive exactly.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/convert.h"
#include "core/convert_simd.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

constexpr std::size_t kChunk = 256;

bool narrow_float(DType dt) {
  return dt == DType::f32 || dt == DType::f16 || dt == DType::bf16 || dt == DType::f8_e4m3fn ||
         dt == DType::f8_e5m2;
}

void load_f32(const void* src, DType from, std::size_t n, float* out) {
  const detail::ConvertKernels& k = detail::active_convert_kernels();
  switch (from) {
    case DType::f32:
      std::memcpy(out, src, n * sizeof(float));
      return;
    case DType::bf16:
      k.bf16_to_f32(static_cast<const std::uint16_t*>(src), out, n);
      return;
    case DType::f16:
      k.f16_to_f32(static_cast<const std::uint16_t*>(src), out, n);
      return;
    case DType::f8_e4m3fn:
      k.f8_e4m3fn_to_f32(static_cast<const std::uint8_t*>(src), out, n);
      return;
    case DType::f8_e5m2:
      k.f8_e5m2_to_f32(static_cast<const std::uint8_t*>(src), out, n);
      return;
    default:
      throw DTypeError(std::string("convert: ") + std::string(dtype_name(from)) +
                       " is not a narrow float dtype");
  }
}

void store_f32(const float* in, std::size_t n, void* dst, DType to, bool saturate) {
  const detail::ConvertKernels& k = detail::active_convert_kernels();
  switch (to) {
    case DType::f32:
      std::memcpy(dst, in, n * sizeof(float));
      return;
    case DType::bf16:
      k.f32_to_bf16(in, static_cast<std::uint16_t*>(dst), n);
      return;
    case DType::f16:
      k.f32_to_f16(in, static_cast<std::uint16_t*>(dst), n);
      return;
    case DType::f8_e4m3fn:
      k.f32_to_f8_e4m3fn(in, static_cast<std::uint8_t*>(dst), n, saturate);
      return;
    case DType::f8_e5m2:
      k.f32_to_f8_e5m2(in, static_cast<std::uint8_t*>(dst), n, saturate);
      return;
    default:
      throw DTypeError(std::string("convert: ") + std::string(dtype_name(to)) +
                       " is not a narrow float dtype");
  }
}

template <typename T>
double load_one(const void* src, std::size_t i) {
  T v;
  std::memcpy(&v, static_cast<const char*>(src) + i * sizeof(T), sizeof(T));
  return static_cast<double>(v);
}

double load_f64(const void* src, DType from, std::size_t i) {
  switch (from) {
    case DType::f64:
      return load_one<double>(src, i);
    case DType::i8:
      return load_one<std::int8_t>(src, i);
    case DType::u8:
      return load_one<std::uint8_t>(src, i);
    case DType::i16:
      return load_one<std::int16_t>(src, i);
    case DType::i32:
      return load_one<std::int32_t>(src, i);
    case DType::i64:
      return load_one<std::int64_t>(src, i);
    case DType::boolean:
      return static_cast<const std::uint8_t*>(src)[i] != 0 ? 1.0 : 0.0;
    default: {
      float f;
      load_f32(static_cast<const char*>(src) + i * dtype_size(from), from, 1, &f);
      return f;
    }
  }
}

// Integer targets: round toward zero, clamp to the range, NaN -> 0 (no undefined float-to-int conversion).
template <typename T>
void store_int(double v, void* dst, std::size_t i) {
  T out;
  if (std::isnan(v)) {
    out = 0;
  } else if (v <= static_cast<double>(std::numeric_limits<T>::min())) {
    out = std::numeric_limits<T>::min();
  } else if (v >= static_cast<double>(std::numeric_limits<T>::max())) {
    out = std::numeric_limits<T>::max();
  } else {
    out = static_cast<T>(v);
  }
  std::memcpy(static_cast<char*>(dst) + i * sizeof(T), &out, sizeof(T));
}

void store_f64(double v, void* dst, DType to, std::size_t i, bool saturate) {
  switch (to) {
    case DType::f64:
      std::memcpy(static_cast<char*>(dst) + i * 8, &v, 8);
      return;
    case DType::i8:
      store_int<std::int8_t>(v, dst, i);
      return;
    case DType::u8:
      store_int<std::uint8_t>(v, dst, i);
      return;
    case DType::i16:
      store_int<std::int16_t>(v, dst, i);
      return;
    case DType::i32:
      store_int<std::int32_t>(v, dst, i);
      return;
    case DType::i64:
      store_int<std::int64_t>(v, dst, i);
      return;
    case DType::boolean:
      static_cast<std::uint8_t*>(dst)[i] = v != 0.0 ? 1 : 0;
      return;
    default: {
      const float f = static_cast<float>(v);
      store_f32(&f, 1, static_cast<char*>(dst) + i * dtype_size(to), to, saturate);
    }
  }
}

}  // namespace

void convert(const void* src, DType from, void* dst, DType to, std::size_t n, const ConvertOptions& options) {
  if (n == 0) return;
  if (from == to) {
    std::memmove(dst, src, n * dtype_size(from));
    return;
  }
  if (!narrow_float(from) || !narrow_float(to)) {
    for (std::size_t i = 0; i < n; ++i) store_f64(load_f64(src, from, i), dst, to, i, options.saturate_fp8);
    return;
  }
  if (from == DType::f32) {
    store_f32(static_cast<const float*>(src), n, dst, to, options.saturate_fp8);
    return;
  }
  if (to == DType::f32) {
    load_f32(src, from, n, static_cast<float*>(dst));
    return;
  }
  std::array<float, kChunk> buf;
  const std::size_t in_size = dtype_size(from), out_size = dtype_size(to);
  for (std::size_t i = 0; i < n; i += kChunk) {
    const std::size_t m = std::min(kChunk, n - i);
    load_f32(static_cast<const char*>(src) + i * in_size, from, m, buf.data());
    store_f32(buf.data(), m, static_cast<char*>(dst) + i * out_size, to, options.saturate_fp8);
  }
}

void convert_strided(const void* src, DType from, std::int64_t src_stride, void* dst, DType to,
                     std::int64_t dst_stride, std::size_t n, const ConvertOptions& options) {
  if (src_stride == 1 && dst_stride == 1) {
    convert(src, from, dst, to, n, options);
    return;
  }
  // Gather into a contiguous chunk, convert, scatter: the gather/scatter moves raw element bytes.
  const std::size_t in_size = dtype_size(from), out_size = dtype_size(to);
  alignas(64) std::array<unsigned char, kChunk * 8> in_buf, out_buf;
  const auto* s = static_cast<const unsigned char*>(src);
  auto* d = static_cast<unsigned char*>(dst);
  for (std::size_t i = 0; i < n; i += kChunk) {
    const std::size_t m = std::min(kChunk, n - i);
    for (std::size_t k = 0; k < m; ++k)
      std::memcpy(&in_buf[k * in_size],
                  s + static_cast<std::int64_t>(i + k) * src_stride * static_cast<std::int64_t>(in_size),
                  in_size);
    convert(in_buf.data(), from, out_buf.data(), to, m, options);
    for (std::size_t k = 0; k < m; ++k)
      std::memcpy(d + static_cast<std::int64_t>(i + k) * dst_stride * static_cast<std::int64_t>(out_size),
                  &out_buf[k * out_size], out_size);
  }
}

}  // namespace vramkit
