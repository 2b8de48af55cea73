#include "models/qwen_image/scheduler.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

template <typename T>
void read(const nlohmann::json& j, const std::filesystem::path& path, const char* key, T& value) {
  if (!j.contains(key) || j.at(key).is_null()) return;
  try {
    value = j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw ArgumentError(path.string() + ": " + key + " has the wrong type: " + j.at(key).dump());
  }
}

void require_off(const nlohmann::json& j, const std::filesystem::path& path, const char* key) {
  if (j.contains(key) && !j.at(key).is_null() && j.at(key) != false)
    throw ArgumentError(path.string() + ": " + key + " = " + j.at(key).dump() +
                        " is not supported by the flow-match Euler scheduler of Qwen-Image");
}

}  // namespace

FlowMatchSchedulerConfig FlowMatchSchedulerConfig::from_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot open scheduler config " + path.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path.string() + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw FormatError(path.string() + ": the scheduler config must be a JSON object");
  FlowMatchSchedulerConfig c;
  read(j, path, "num_train_timesteps", c.num_train_timesteps);
  read(j, path, "shift", c.shift);
  read(j, path, "use_dynamic_shifting", c.use_dynamic_shifting);
  read(j, path, "base_shift", c.base_shift);
  read(j, path, "max_shift", c.max_shift);
  read(j, path, "base_image_seq_len", c.base_image_seq_len);
  read(j, path, "max_image_seq_len", c.max_image_seq_len);
  read(j, path, "shift_terminal", c.shift_terminal);
  std::string time_shift_type = "exponential";
  read(j, path, "time_shift_type", time_shift_type);
  if (time_shift_type != "exponential" && time_shift_type != "linear")
    throw ArgumentError(path.string() + ": time_shift_type '" + time_shift_type + "' is not exponential or linear");
  c.exponential_time_shift = time_shift_type == "exponential";
  for (const char* key : {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "invert_sigmas",
                          "stochastic_sampling"})
    require_off(j, path, key);
  if (c.num_train_timesteps <= 0 || c.max_image_seq_len == c.base_image_seq_len || c.shift <= 0 ||
      c.shift_terminal < 0 || c.shift_terminal >= 1)
    throw ArgumentError(path.string() + ": inconsistent values (num_train_timesteps > 0, max_image_seq_len != "
                        "base_image_seq_len, shift > 0 and 0 <= shift_terminal < 1 are required)");
  return c;
}

double dynamic_shift_mu(const FlowMatchSchedulerConfig& c, std::int64_t image_seq_len) {
  const double m = (c.max_shift - c.base_shift) / static_cast<double>(c.max_image_seq_len - c.base_image_seq_len);
  const double b = c.base_shift - m * static_cast<double>(c.base_image_seq_len);
  return static_cast<double>(image_seq_len) * m + b;
}

std::vector<float> flow_match_sigmas(const FlowMatchSchedulerConfig& c, int steps, std::int64_t image_seq_len) {
  if (steps < 1) throw ArgumentError("the number of steps must be at least 1, got " + std::to_string(steps));
  const auto n = static_cast<std::size_t>(steps);
  // np.linspace(1.0, 1/N, N) in float64 (start + i·step, the last element exactly the stop), then float32.
  std::vector<float> sigma(n);
  const double stop = 1.0 / steps;
  const double step = steps > 1 ? (stop - 1.0) / (steps - 1) : 0.0;
  for (std::size_t i = 0; i < n; ++i) sigma[i] = static_cast<float>(i + 1 == n ? stop : 1.0 + static_cast<double>(i) * step);
  if (steps == 1) sigma[0] = 1.0f;

  // Python float scalars meet float32 arrays: NumPy computes in float32 with the scalar rounded to float32.
  if (c.use_dynamic_shifting) {
    const double mu = dynamic_shift_mu(c, image_seq_len);
    const float a = static_cast<float>(c.exponential_time_shift ? std::exp(mu) : mu);
    for (float& s : sigma) s = a / (a + (1.0f / s - 1.0f));
  } else {
    const auto shift = static_cast<float>(c.shift);
    for (float& s : sigma) s = shift * s / (1.0f + (shift - 1.0f) * s);
  }
  if (c.shift_terminal > 0 && steps > 1) {
    const float scale = (1.0f - sigma.back()) / static_cast<float>(1.0 - c.shift_terminal);
    for (float& s : sigma) s = 1.0f - (1.0f - s) / scale;
  }
  sigma.push_back(0.0f);
  return sigma;
}

Tensor euler_step(const Tensor& latents, const Tensor& velocity, float sigma, float sigma_next) {
  if (latents.shape() != velocity.shape())
    throw ShapeError("Euler step: latents " + latents.str() + " and velocity " + velocity.str() + " differ in shape");
  const std::vector<float> x = latents.to(DType::f32).to_floats(), v = velocity.to(DType::f32).to_floats();
  const float dt = sigma_next - sigma;
  std::vector<float> step(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) step[i] = dt * v[i];
  // The reference multiplies a 0-dim f32 dt by the velocity tensor, which keeps the velocity's dtype: the
  // product is rounded to it before the f32 sum.
  step = Tensor::from_floats(latents.shape(), step).to(velocity.dtype()).to(DType::f32).to_floats();
  for (std::size_t i = 0; i < x.size(); ++i) step[i] += x[i];
  return Tensor::from_floats(latents.shape(), step).to(velocity.dtype());
}

}  // namespace vramkit::qwen_image
