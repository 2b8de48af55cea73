// `vramkit forward transformer`: the Qwen-Image DiT on hidden_states [B, H·W, 64] (packed latents),
// encoder_hidden_states [B, L, joint_dim], timestep [B] (sigma) and an optional encoder_hidden_states_mask
// [B, L]; --grid FxHxW gives the latent grid in 2x2 patches (default: a square grid of one frame).
#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>

#include "cli/forward_components.h"
#include "models/qwen_image/dit.h"
#include "vramkit/error.h"

namespace vramkit::cli {
namespace {

std::array<std::int64_t, 3> parse_grid(const std::string& s) {
  std::array<std::int64_t, 3> grid{};
  const char* p = s.data();
  const char* end = s.data() + s.size();
  for (std::size_t i = 0; i < 3; ++i) {
    const auto [next, ec] = std::from_chars(p, end, grid[i]);
    const bool separator_ok = i < 2 ? (next != end && *next == 'x') : next == end;
    if (ec != std::errc() || !separator_ok || grid[i] <= 0)
      throw ArgumentError("--grid: '" + s + "' is not FRAMESxHEIGHTxWIDTH with positive integers (e.g. 1x64x64)");
    p = next + 1;
  }
  return grid;
}

class ForwardTransformer final : public ForwardComponent {
 public:
  std::string name() const override { return "transformer"; }
  std::string description() const override {
    return "the Qwen-Image DiT: hidden_states, encoder_hidden_states, timestep [, encoder_hidden_states_mask] "
           "-> output";
  }
  void add_arguments(CLI::App& command) override {
    command.add_option("--grid", grid_, "the latent grid in 2x2 patches, FRAMESxHEIGHTxWIDTH (default: square)");
  }

  NamedTensors run(VramManager& manager, const std::filesystem::path& model, const VramConfig& vram,
                   const WeightFiles& inputs) override {
    auto dit = qwen_image::QwenImageDit::open(manager, model, vram);
    qwen_image::DitInputs in;
    in.hidden_states = forward_input(inputs, "hidden_states");
    in.encoder_hidden_states = forward_input(inputs, "encoder_hidden_states");
    in.timestep = forward_input(inputs, "timestep");
    in.encoder_mask = forward_input(inputs, "encoder_hidden_states_mask", false);
    in.grid = grid_.empty() ? square_grid(in.hidden_states) : parse_grid(grid_);
    return {{"output", dit->forward(in)}};
  }

 private:
  static std::array<std::int64_t, 3> square_grid(const Tensor& hidden_states) {
    const std::int64_t n = hidden_states.rank() == 3 ? hidden_states.size(1) : 0;
    const auto side = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
    if (n <= 0 || side * side != n)
      throw ArgumentError("hidden_states " + hidden_states.str() +
                          ": the token count is not a square; give the latent grid with --grid 1xHxW");
    return {1, side, side};
  }

  std::string grid_;
};

}  // namespace

std::unique_ptr<ForwardComponent> make_forward_transformer() { return std::make_unique<ForwardTransformer>(); }

}  // namespace vramkit::cli
