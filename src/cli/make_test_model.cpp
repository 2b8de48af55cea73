#include "cli/make_test_model.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>

#include "core/human_bytes.h"
#include "models/qwen_image/model_writer.h"
#include "vramkit/error.h"

namespace vramkit::cli {

void add_make_test_model_arguments(CLI::App& command, MakeTestModelArguments& args) {
  command.add_option("--arch", args.arch, "the architecture: qwen-image")->required();
  command.add_option("--layers", args.layers, "DiT blocks to keep (1..60)")->required();
  command.add_option("--text-layers", args.text_layers,
                     "text encoder layers to keep (0..28; default min(layers, 28))");
  command
      .add_option("--out", args.out,
                  "the folder to write (created if needed; existing files are overwritten)")
      ->required();
  command.add_option("--dtype", args.dtype, "bf16, or fp8 (the rank-2 weights as float8_e4m3fn)")
      ->capture_default_str();
  command.add_option("--seed", args.seed, "seed of the random values")->capture_default_str();
}

void run_make_test_model(const MakeTestModelArguments& args, std::ostream& out) {
  if (args.arch != "qwen-image") throw ArgumentError("--arch: '" + args.arch + "' is not known (qwen-image)");
  DType dtype = DType::bf16;
  if (args.dtype == "fp8")
    dtype = DType::f8_e4m3fn;
  else if (args.dtype != "bf16")
    throw ArgumentError("--dtype: '" + args.dtype + "' is not bf16 or fp8");
  qwen_image::QwenImageModelSpec spec = qwen_image::released_dimensions(
      args.layers, args.text_layers >= 0 ? args.text_layers : std::min<std::int64_t>(args.layers, 28));
  spec.weight_dtype = dtype;
  spec.seed = args.seed;
  const auto t0 = std::chrono::steady_clock::now();
  qwen_image::write_qwen_image_model(args.out, spec);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::uint64_t total = 0;
  const std::pair<const char*, std::vector<qwen_image::ModelTensor>> components[] = {
      {"transformer", qwen_image::transformer_tensors(spec)},
      {"text_encoder", qwen_image::text_encoder_tensors(spec)},
      {"vae", qwen_image::vae_tensors(spec)}};
  for (const auto& [name, tensors] : components) {
    std::uint64_t bytes = 0;
    for (const auto& t : tensors) bytes += t.bytes();
    total += bytes;
    out << name << ": " << tensors.size() << " tensors, " << human_bytes(bytes) << "\n";
  }
  out << "wrote " << human_bytes(total) << " to " << args.out << " in " << seconds << " s\n";
}

}  // namespace vramkit::cli
