// Shared checks and conversions for op validation and CPU kernels (placement.h says on which device an op
// runs).
//
// CPU kernels compute in f32 (accumulating in f32 or wider) on contiguous buffers: inputs of any float dtype
// are brought to contiguous f32 with to_f32_contiguous (free when they already are), results are produced in
// f32 and narrowed once with f32_to_dtype. Every error names the op and the tensors involved.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "core/tensor.h"

namespace vramkit::ops {

// "linear: x bf16[2, 7] cpu, weight f32[5, 6] cpu"-style description of tensors for error messages.
std::string describe(std::initializer_list<std::pair<std::string_view, const Tensor*>> tensors);

// Throws DTypeError "<op>: <name> has dtype X; supported: a, b, c" unless t's dtype is listed.
void check_dtype(std::string_view op, std::string_view name, const Tensor& t, std::initializer_list<DType> allowed);
// Throws ShapeError "<op>: <name> must have rank R, got shape S" unless t has that rank.
void check_rank(std::string_view op, std::string_view name, const Tensor& t, int rank);
// Throws ArgumentError naming the op and the argument when t is undefined.
void check_defined(std::string_view op, std::string_view name, const Tensor& t);
// Throws ShapeError naming the op, x, weight and the vector unless v is [out] for weight [out, in] (a
// linear's bias or per-output-channel scale).
void check_channel_vector(std::string_view op, std::string_view name, const Tensor& v, const Tensor& x,
                          const Tensor& weight);

// Contiguous f32 copy of t (t itself when it is already contiguous f32).
Tensor to_f32_contiguous(const Tensor& t);
// t (contiguous f32) converted to dtype (t itself when dtype is f32).
Tensor f32_to_dtype(const Tensor& t, DType dtype);

inline constexpr std::initializer_list<DType> kFloatActivations = {DType::f32, DType::bf16, DType::f16};

}  // namespace vramkit::ops
