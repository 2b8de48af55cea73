// `vramkit forward vae_decoder` and `vramkit forward vae_encoder`: the Qwen-Image VAE's two halves.
//   vae_decoder: z [B, 16, 1, h, w] (float, not denormalized) -> output [B, 3, 1, 8h, 8w] in [-1, 1]; tiled
//                under the VRAM budget unless --tiling says otherwise, --tile/--tile-stride in latent pixels
//   vae_encoder: image [B, 3, 1, H, W] in [-1, 1], H and W multiples of 8 -> output, the latent mean
//                [B, 16, 1, H/8, W/8] (not normalized)
// Both take the "vae" object of a per-component --vram-config file.
#include <CLI/CLI.hpp>
#include <map>

#include "cli/forward_components.h"
#include "models/qwen_image/vae.h"

namespace vramkit::cli {
namespace {

class ForwardVaeDecoder final : public ForwardComponent {
 public:
  std::string name() const override { return "vae_decoder"; }
  std::string vram_component() const override { return "vae"; }
  std::string description() const override {
    return "the Qwen-Image VAE decoder: z [B, 16, 1, h, w] (not denormalized) -> output [B, 3, 1, 8h, 8w]";
  }
  void add_arguments(CLI::App& command) override {
    const std::map<std::string, qwen_image::VaeTilingMode> modes{{"auto", qwen_image::VaeTilingMode::automatic},
                                                                  {"always", qwen_image::VaeTilingMode::always},
                                                                  {"never", qwen_image::VaeTilingMode::never}};
    command
        .add_option("--tiling", options_.tiling,
                    "auto (tiles when one pass would not fit the VRAM budget), always or never")
        ->transform(CLI::CheckedTransformer(modes, CLI::ignore_case));
    command.add_option("--tile", tile_, "tile side in latent pixels (default 32, diffusers' 256 pixels)");
    command.add_option("--tile-stride", stride_, "latent pixels between tiles (default 3/4 of the tile)");
  }

  NamedTensors run(VramManager& manager, const std::filesystem::path& model, const VramConfig& vram,
                   const WeightFiles& inputs) override {
    auto decoder = qwen_image::QwenImageVaeDecoder::open(manager, model, vram);
    if (tile_ > 0 || stride_ > 0) {
      const std::int64_t tile = tile_ > 0 ? tile_ : qwen_image::VaeTiling{}.tile;
      options_.tile = qwen_image::VaeTiling{tile, stride_ > 0 ? stride_ : tile * 3 / 4};
    }
    return {{"output", decoder->decode(forward_input(inputs, "z"), options_)}};
  }

 private:
  qwen_image::VaeDecodeOptions options_;
  std::int64_t tile_ = 0, stride_ = 0;
};

class ForwardVaeEncoder final : public ForwardComponent {
 public:
  std::string name() const override { return "vae_encoder"; }
  std::string vram_component() const override { return "vae"; }
  std::string description() const override {
    return "the Qwen-Image VAE encoder: image [B, 3, 1, H, W] in [-1, 1] -> output, the latent mean "
           "[B, 16, 1, H/8, W/8]";
  }
  NamedTensors run(VramManager& manager, const std::filesystem::path& model, const VramConfig& vram,
                   const WeightFiles& inputs) override {
    auto encoder = qwen_image::QwenImageVaeEncoder::open(manager, model, vram);
    return {{"output", encoder->encode(forward_input(inputs, "image"))}};
  }
};

}  // namespace

std::unique_ptr<ForwardComponent> make_forward_vae_decoder() { return std::make_unique<ForwardVaeDecoder>(); }
std::unique_ptr<ForwardComponent> make_forward_vae_encoder() { return std::make_unique<ForwardVaeEncoder>(); }

}  // namespace vramkit::cli
