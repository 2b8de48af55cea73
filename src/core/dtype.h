// Element types. The first ten are the engine's working set; f64 and i16 exist so that every dtype a
// safetensors file may hold can be named, inspected and converted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace vramkit {

enum class DType : std::uint8_t { f32, f16, bf16, f8_e4m3fn, f8_e5m2, i8, u8, i32, i64, boolean, f64, i16 };

inline constexpr DType kAllDTypes[] = {DType::f32, DType::f16, DType::bf16, DType::f8_e4m3fn,
                                       DType::f8_e5m2, DType::i8, DType::u8, DType::i32,
                                       DType::i64, DType::boolean, DType::f64, DType::i16};

std::size_t dtype_size(DType dt);
bool is_floating(DType dt);

// Canonical short name ("f32", "bf16", "f8_e4m3fn", "bool"...).
std::string_view dtype_name(DType dt);

// Accepts the canonical names and the usual spellings: "float32", "bfloat16", "fp16", "float8_e4m3fn", "fp8"
// (= e4m3fn), "float8_e5m2". Throws ArgumentError naming the string.
DType parse_dtype(std::string_view s);

// safetensors spellings: "F32", "BF16", "F8_E4M3", "BOOL"... Returns false for an unknown string.
bool dtype_from_safetensors(std::string_view s, DType* out);
std::string_view dtype_safetensors_name(DType dt);

}  // namespace vramkit
