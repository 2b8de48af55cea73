#include "models/qwen_image/guidance.h"

#include <cmath>

#include "core/convert.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {

Tensor true_cfg(const Tensor& cond, const Tensor& uncond, float scale, bool renorm) {
  if (cond.shape() != uncond.shape() || cond.rank() < 1)
    throw ShapeError("true CFG: cond " + cond.str() + " and uncond " + uncond.str() + " must have one shape");
  if (cond.dtype() != uncond.dtype())
    throw DTypeError("true CFG: cond " + cond.str() + " and uncond " + uncond.str() + " must have one dtype");
  const DType dtype = cond.dtype();
  if (dtype != DType::f32 && dtype != DType::bf16 && dtype != DType::f16)
    throw DTypeError("true CFG: " + cond.str() + " must be f32, bf16 or f16");
  // One value rounded to the tensors' dtype, as every PyTorch op on them rounds its result.
  const auto round = [dtype](float v) {
    if (dtype == DType::f32) return v;
    float out = 0;
    std::uint16_t narrow = 0;
    convert(&v, DType::f32, &narrow, dtype, 1);
    convert(&narrow, dtype, &out, DType::f32, 1);
    return out;
  };
  const std::vector<float> c = cond.to(DType::f32).to_floats(), u = uncond.to(DType::f32).to_floats();
  std::vector<float> out(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) out[i] = round(u[i] + round(scale * round(c[i] - u[i])));
  if (renorm) {
    const auto width = static_cast<std::size_t>(cond.size(-1));
    for (std::size_t row = 0; row < c.size() / width; ++row) {
      float cond_sq = 0, comb_sq = 0;
      for (std::size_t j = row * width; j < (row + 1) * width; ++j) {
        cond_sq += c[j] * c[j];
        comb_sq += out[j] * out[j];
      }
      const float ratio = round(round(std::sqrt(cond_sq)) / round(std::sqrt(comb_sq)));
      for (std::size_t j = row * width; j < (row + 1) * width; ++j) out[j] = round(out[j] * ratio);
    }
  }
  return Tensor::from_floats(cond.shape(), out).to(dtype);
}

}  // namespace vramkit::qwen_image
