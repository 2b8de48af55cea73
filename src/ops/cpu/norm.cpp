// Normalization kernels.
// Last-dimension norms (layer_norm_row, rms_norm_row): one row at a time, statistics in f64 (LayerNorm takes
// the mean first, then the mean of squared deviations: two passes, no cancellation), then y = (x - mean) ·
// rstd · w + b in f32. Rows are spread over threads by the row engine (row_map.h). Channel norm: for a block
// of spatial positions, the sum of squares over the channels is accumulated in f64 per position walking the
// channels in order (every pass reads contiguous memory), then each channel's values are scaled by sqrt(C) /
// max(‖x‖₂, eps) · gamma[c] and shifted by bias[c] in f32. OpenMP over (batch, block).
#include "ops/cpu/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace vramkit::ops::cpu {
namespace {

constexpr std::int64_t kSpatialBlock = 256;

}  // namespace

void layer_norm_row(const float* x, const float* weight, const float* bias, float eps, float* out,
                    std::int64_t n) {
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += x[i];
  const double mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
  double sq = 0;
  for (std::int64_t i = 0; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const double var = n > 0 ? sq / static_cast<double>(n) : 0.0;
  const auto rstd = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
  const auto mean_f = static_cast<float>(mean);
  for (std::int64_t i = 0; i < n; ++i) {
    float v = (x[i] - mean_f) * rstd;
    if (weight) v *= weight[i];
    if (bias) v += bias[i];
    out[i] = v;
  }
}

void rms_norm_row(const float* x, const float* weight, float eps, float* out, std::int64_t n) {
  double sq = 0;
  for (std::int64_t i = 0; i < n; ++i) sq += static_cast<double>(x[i]) * x[i];
  const double ms = n > 0 ? sq / static_cast<double>(n) : 0.0;
  const auto rrms = static_cast<float>(1.0 / std::sqrt(ms + static_cast<double>(eps)));
  for (std::int64_t i = 0; i < n; ++i) out[i] = weight ? x[i] * rrms * weight[i] : x[i] * rrms;
}

void channel_rms_norm(const float* x, std::int64_t batch, std::int64_t channels, std::int64_t spatial,
                      const float* gamma, const float* bias, float eps, float* y) {
  const std::int64_t blocks = (spatial + kSpatialBlock - 1) / kSpatialBlock;
  const double root_c = std::sqrt(static_cast<double>(channels));
#pragma omp parallel
  {
    std::vector<double> sumsq(kSpatialBlock);
    std::vector<float> factor(kSpatialBlock);
#pragma omp for schedule(static)
    for (std::int64_t job = 0; job < batch * blocks; ++job) {
      const std::int64_t b = job / blocks, s0 = (job % blocks) * kSpatialBlock;
      const std::int64_t len = std::min(kSpatialBlock, spatial - s0);
      const float* xb = x + b * channels * spatial + s0;
      float* yb = y + b * channels * spatial + s0;
      std::fill(sumsq.begin(), sumsq.end(), 0.0);
      for (std::int64_t c = 0; c < channels; ++c)
        for (std::int64_t s = 0; s < len; ++s) {
          const double v = xb[c * spatial + s];
          sumsq[static_cast<std::size_t>(s)] += v * v;
        }
      for (std::int64_t s = 0; s < len; ++s) {
        const auto i = static_cast<std::size_t>(s);
        factor[i] = static_cast<float>(root_c / std::max(std::sqrt(sumsq[i]), static_cast<double>(eps)));
      }
      for (std::int64_t c = 0; c < channels; ++c) {
        const float g = gamma[c], sh = bias ? bias[c] : 0.0f;
        for (std::int64_t s = 0; s < len; ++s)
          yb[c * spatial + s] = xb[c * spatial + s] * factor[static_cast<std::size_t>(s)] * g + sh;
      }
    }
  }
}

}  // namespace vramkit::ops::cpu
