#include "core/dtype.h"

#include <algorithm>
#include <cctype>

#include "vramkit/error.h"

namespace vramkit {
namespace {

struct DTypeInfo {
  DType dtype;
  std::size_t size;
  bool floating;
  std::string_view name;
  std::string_view safetensors;
};

constexpr DTypeInfo kInfo[] = {
    {DType::f32, 4, true, "f32", "F32"},
    {DType::f16, 2, true, "f16", "F16"},
    {DType::bf16, 2, true, "bf16", "BF16"},
    {DType::f8_e4m3fn, 1, true, "f8_e4m3fn", "F8_E4M3"},
    {DType::f8_e5m2, 1, true, "f8_e5m2", "F8_E5M2"},
    {DType::i8, 1, false, "i8", "I8"},
    {DType::u8, 1, false, "u8", "U8"},
    {DType::i32, 4, false, "i32", "I32"},
    {DType::i64, 8, false, "i64", "I64"},
    {DType::boolean, 1, false, "bool", "BOOL"},
    {DType::f64, 8, true, "f64", "F64"},
    {DType::i16, 2, false, "i16", "I16"},
};

const DTypeInfo& info(DType dt) {
  const auto i = static_cast<std::size_t>(dt);
  if (i >= std::size(kInfo)) throw DTypeError("invalid dtype value " + std::to_string(i));
  return kInfo[i];
}

struct Alias {
  std::string_view spelling;
  DType dtype;
};

constexpr Alias kAliases[] = {
    {"float32", DType::f32},      {"fp32", DType::f32},          {"float", DType::f32},
    {"float16", DType::f16},      {"fp16", DType::f16},          {"half", DType::f16},
    {"bfloat16", DType::bf16},    {"float8_e4m3fn", DType::f8_e4m3fn}, {"fp8", DType::f8_e4m3fn},
    {"fp8_e4m3fn", DType::f8_e4m3fn}, {"e4m3fn", DType::f8_e4m3fn}, {"float8_e5m2", DType::f8_e5m2},
    {"fp8_e5m2", DType::f8_e5m2}, {"e5m2", DType::f8_e5m2},      {"int8", DType::i8},
    {"uint8", DType::u8},         {"int16", DType::i16},         {"int32", DType::i32},
    {"int64", DType::i64},        {"float64", DType::f64},       {"fp64", DType::f64},
    {"double", DType::f64},       {"boolean", DType::boolean},
};

}  // namespace

std::size_t dtype_size(DType dt) { return info(dt).size; }
bool is_floating(DType dt) { return info(dt).floating; }
std::string_view dtype_name(DType dt) { return info(dt).name; }
std::string_view dtype_safetensors_name(DType dt) { return info(dt).safetensors; }

DType parse_dtype(std::string_view s) {
  std::string lower(s);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& i : kInfo)
    if (i.name == lower) return i.dtype;
  for (const auto& a : kAliases)
    if (a.spelling == lower) return a.dtype;
  throw ArgumentError("unknown dtype '" + std::string(s) +
                      "' (expected one of f32, f16, bf16, f8_e4m3fn, f8_e5m2, i8, u8, i16, i32, i64, bool, f64 "
                      "or a spelling such as float32, bfloat16, fp16, float8_e4m3fn, fp8, float8_e5m2)");
}

bool dtype_from_safetensors(std::string_view s, DType* out) {
  for (const auto& i : kInfo) {
    if (i.safetensors == s) {
      *out = i.dtype;
      return true;
    }
  }
  return false;
}

}  // namespace vramkit
