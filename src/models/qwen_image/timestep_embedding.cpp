#include "models/qwen_image/timestep_embedding.h"

#include <cmath>
#include <vector>

#include "vramkit/error.h"

namespace vramkit::qwen_image {

Tensor timestep_projection(const Tensor& timestep, std::int64_t channels, DType dtype) {
  if (timestep.rank() != 1)
    throw ShapeError("timestep_projection: timestep " + timestep.str() + " must have rank 1 [B]");
  if (channels <= 0 || channels % 2)
    throw ShapeError("timestep_projection: channels " + std::to_string(channels) +
                     " must be positive and even");
  const std::int64_t batch = timestep.size(0);
  const std::int64_t half = channels / 2;
  // timestep.to(dtype) in the reference, then .float() inside get_timestep_embedding.
  const std::vector<float> t = timestep.to(dtype).to_floats();
  // exponent = −ln(10000) · arange(half) / half in f32: the scalar factor is rounded to f32 first.
  const float neg_log_period = static_cast<float>(-std::log(10000.0));
  std::vector<float> freq(static_cast<std::size_t>(half));
  for (std::int64_t k = 0; k < half; ++k) {
    const float exponent = (neg_log_period * static_cast<float>(k)) / static_cast<float>(half);
    freq[static_cast<std::size_t>(k)] = std::exp(exponent);
  }
  std::vector<float> out(static_cast<std::size_t>(batch * channels));
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t k = 0; k < half; ++k) {
      const float arg = 1000.0f * (t[static_cast<std::size_t>(b)] * freq[static_cast<std::size_t>(k)]);
      out[static_cast<std::size_t>(b * channels + k)] = std::cos(arg);
      out[static_cast<std::size_t>(b * channels + half + k)] = std::sin(arg);
    }
  return Tensor::from_floats({batch, channels}, out).to(dtype);
}

}  // namespace vramkit::qwen_image
