// The flow-match Euler scheduler of Qwen-Image (diffusers FlowMatchEulerDiscreteScheduler as
// QwenImagePipeline configures and calls it), spec §7:
//
//   sigma_i = linspace(1, 1/N, N)                        (float64, then float32)
//   mu      = image_seq_len · m + b,  m = (max_shift − base_shift) / (max_seq − base_seq), b = base_shift − m·base_seq
//   sigma  <- e^mu / (e^mu + (1/sigma − 1))              (exponential time shift, exponent 1; float32)
//   sigma  <- 1 − (1 − sigma) / ((1 − sigma_N) / (1 − shift_terminal))   (last sigma becomes shift_terminal)
//   then a final 0; the transformer's timestep input is sigma itself.
//
// The arithmetic follows the reference's dtypes (NumPy float32 arrays with Python float scalars), so the
// sigmas agree bit for bit (tested against diffusers' arrays). One step is the exception: the reference's
// terminal stretch divides 0 by 0 there (NaN); here one step keeps sigma 1 (documented in the CLI).
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "core/tensor.h"

namespace vramkit::qwen_image {

struct FlowMatchSchedulerConfig {
  std::int64_t num_train_timesteps = 1000;
  double shift = 1.0;
  bool use_dynamic_shifting = true;
  double base_shift = 0.5;
  double max_shift = 0.9;
  std::int64_t base_image_seq_len = 256;
  std::int64_t max_image_seq_len = 8192;
  double shift_terminal = 0.02;  // 0 = no stretch
  bool exponential_time_shift = true;  // time_shift_type "exponential" (else "linear")

  // Reads scheduler/scheduler_config.json; keys absent take the values above (Qwen-Image's). Options this
  // scheduler does not implement (karras / exponential / beta sigmas, inverted or stochastic sampling) are an
  // ArgumentError naming the file and the key, as are values of the wrong type.
  static FlowMatchSchedulerConfig from_json_file(const std::filesystem::path& path);
};

// mu of the dynamic shift for an image of `image_seq_len` latent tokens ((H/16)·(W/16)).
double dynamic_shift_mu(const FlowMatchSchedulerConfig& config, std::int64_t image_seq_len);

// The N + 1 sigmas of an N-step schedule, the last 0. ArgumentError when steps < 1.
std::vector<float> flow_match_sigmas(const FlowMatchSchedulerConfig& config, int steps, std::int64_t image_seq_len);

// One Euler step as the reference: f32(latents) + [(sigma_next − sigma) · velocity rounded to the velocity's
// dtype], returned in the velocity's dtype (the latents stay in the computation dtype between steps).
// ShapeError when the shapes differ.
Tensor euler_step(const Tensor& latents, const Tensor& velocity, float sigma, float sigma_next);

}  // namespace vramkit::qwen_image
