// Device-side element formats shared by the CUDA kernels: Format<D>::decode turns a stored element into f32
// (exactly: every narrow format is a subset of f32) and Format<D>::encode rounds an f32 back, with the same
// contract as core/convert.h (bf16: integer round-to-nearest-even, bit-identical to the CPU, NaN kept quiet
// with its sign; f16: the hardware RN conversion; fp8: the CUDA intrinsics, saturating or not). The hardware
// conversions return an unsigned canonical NaN, the CPU's keep the NaN's sign (seen on an H100): every NaN
// decoded or encoded here gets its sign back. Also a loader for an operand whose dtype is only known at run
// time (weights, biases, modulation vectors of mixed dtypes).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

#include "core/dtype.h"

namespace vramkit::cuda {

template <DType D>
struct Format;

__device__ inline bool is_nan_f32(float f) {
  return (__float_as_uint(f) & 0x7fffffffu) > 0x7f800000u;
}

// A quiet NaN with the given sign.
__device__ inline float signed_nan(bool negative) {
  return __uint_as_float(negative ? 0xffc00000u : 0x7fc00000u);
}

template <>
struct Format<DType::f32> {
  using Storage = float;
  __device__ static float decode(float v) { return v; }
  __device__ static float encode(float f, bool = true) { return f; }
};

template <>
struct Format<DType::bf16> {
  using Storage = std::uint16_t;
  __device__ static float decode(std::uint16_t v) {
    return __uint_as_float(static_cast<std::uint32_t>(v) << 16);
  }
  __device__ static std::uint16_t encode(float f, bool = true) {
    const std::uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
    return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
};

template <>
struct Format<DType::f16> {
  using Storage = std::uint16_t;
  __device__ static float decode(std::uint16_t v) {
    if ((v & 0x7fffu) > 0x7c00u) return signed_nan(v & 0x8000u);
    return __half2float(__ushort_as_half(v));
  }
  __device__ static std::uint16_t encode(float f, bool = true) {
    const std::uint16_t h = __half_as_ushort(__float2half_rn(f));
    if (!is_nan_f32(f)) return h;
    return static_cast<std::uint16_t>((h & 0x7fffu) | ((__float_as_uint(f) >> 16) & 0x8000u));
  }
};

template <__nv_fp8_interpretation_t Kind>
struct Fp8Format {
  using Storage = std::uint8_t;
  // NaN codes: e4m3fn S.1111.111, e5m2 S.11111.xx with xx != 0.
  __device__ static bool is_nan_code(std::uint8_t v) {
    return Kind == __NV_E4M3 ? (v & 0x7fu) == 0x7fu : (v & 0x7fu) > 0x7cu;
  }
  __device__ static float decode(std::uint8_t v) {
    if (is_nan_code(v)) return signed_nan(v & 0x80u);
    const __half_raw h = __nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(v), Kind);
    return __half2float(__half(h));
  }
  __device__ static std::uint8_t encode(float f, bool saturate) {
    const auto code =
        static_cast<std::uint8_t>(__nv_cvt_float_to_fp8(f, saturate ? __NV_SATFINITE : __NV_NOSAT, Kind));
    if (!is_nan_f32(f)) return code;
    return static_cast<std::uint8_t>((code & 0x7fu) | ((__float_as_uint(f) >> 24) & 0x80u));
  }
};

template <>
struct Format<DType::f8_e4m3fn> : Fp8Format<__NV_E4M3> {};
template <>
struct Format<DType::f8_e5m2> : Fp8Format<__NV_E5M2> {};

// kPack elements as one aligned unit: a single load or store of 8 (fp8), 16 (bf16, f16) or 32 (f32: two
// 16-byte accesses) bytes. The memory-bound kernels move packs where the buffers are aligned to them.
inline constexpr int kPack = 8;

template <typename T>
struct alignas(sizeof(T) * kPack) Pack {
  T v[kPack];
};

// Whether `p` may be read or written as packs of `dt` elements (the host's test before a packed kernel).
inline bool pack_aligned(const void* p, DType dt) {
  return reinterpret_cast<std::uintptr_t>(p) % (kPack * dtype_size(dt)) == 0;
}

template <DType D>
__device__ inline void decode_pack(const void* data, std::int64_t pack, float (&out)[kPack]) {
  const Pack<typename Format<D>::Storage> in =
      static_cast<const Pack<typename Format<D>::Storage>*>(data)[pack];
#pragma unroll
  for (int j = 0; j < kPack; ++j) out[j] = Format<D>::decode(in.v[j]);
}

// A read-only operand of f32, bf16 or f16 elements chosen at run time. The dtype test is uniform across a
// warp (one operand, one dtype), so it costs a predictable branch, not divergence.
struct AnyFloat {
  const void* data;
  DType dtype;

  __device__ float operator[](std::int64_t i) const {
    switch (dtype) {
      case DType::bf16:
        return Format<DType::bf16>::decode(static_cast<const std::uint16_t*>(data)[i]);
      case DType::f16:
        return Format<DType::f16>::decode(static_cast<const std::uint16_t*>(data)[i]);
      default:
        return static_cast<const float*>(data)[i];
    }
  }

  // Elements kPack·pack ... kPack·pack + kPack - 1, read as one pack (data aligned to a pack).
  __device__ void load_pack(std::int64_t pack, float (&out)[kPack]) const {
    switch (dtype) {
      case DType::bf16:
        return decode_pack<DType::bf16>(data, pack, out);
      case DType::f16:
        return decode_pack<DType::f16>(data, pack, out);
      default:
        return decode_pack<DType::f32>(data, pack, out);
    }
  }

  // Elements first ... first + kPack - 1 at any alignment: one dtype test for the run, not one per element.
  // Unrolled kernels that read an operand per element otherwise repeat the three-way branch for each one,
  // which multiplies their code (norm.cu's packed kernels took minutes of cicc so).
  __device__ void load_run(std::int64_t first, float (&out)[kPack]) const {
    switch (dtype) {
      case DType::bf16:
        return decode_run<DType::bf16>(first, out);
      case DType::f16:
        return decode_run<DType::f16>(first, out);
      default:
        return decode_run<DType::f32>(first, out);
    }
  }

 private:
  template <DType D>
  __device__ void decode_run(std::int64_t first, float (&out)[kPack]) const {
    const auto* in = static_cast<const typename Format<D>::Storage*>(data) + first;
#pragma unroll
    for (int j = 0; j < kPack; ++j) out[j] = Format<D>::decode(in[j]);
  }
};

}  // namespace vramkit::cuda
