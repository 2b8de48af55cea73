// libFuzzer target for the JSON files of a model folder, which users download or edit by hand: the
// transformer's, VAE's and text encoder's config.json, the scheduler's scheduler_config.json, a
// --vram-config file, the tokenizer's tokenizer.json, its slow-tokenizer files merges.txt and
// tokenizer_config.json (each beside the others from tests/fuzz/data/tokenizer), and a shard index
// (*.safetensors.index.json, beside a real shard holding tensors "x" and "y"). The input is written to a file
// and read by each loader; each must load it or throw a vramkit::Error naming what is wrong. Anything else (a
// JSON library exception leaking through, std::bad_alloc from a size taken on trust, a crash, an
// AddressSanitizer or UndefinedBehaviorSanitizer report) is a finding. An index that opens has every tensor's
// bytes read.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/tensor.h"
#include "io/model_files.h"
#include "io/safetensors.h"
#include "models/qwen_image/dit_config.h"
#include "models/qwen_image/scheduler.h"
#include "models/qwen_image/text_encoder_config.h"
#include "models/qwen_image/tokenizer.h"
#include "models/qwen_image/vae_config.h"
#include "vram/vram_config.h"
#include "vramkit/error.h"

namespace {

// A folder of this process's own under the temporary directory, with the shard a.safetensors and two copies
// of the slow tokenizer's files; the input is rewritten for every run as the folder's
// model.safetensors.index.json, as merges.txt of the first copy and as tokenizer_config.json of the second.
// Removed at exit.
struct InputFolder {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("vramkit_model_config_fuzz_" + std::to_string(getpid()));
  std::filesystem::path file = dir / "model.safetensors.index.json";
  std::filesystem::path merges_dir = dir / "merges", config_dir = dir / "config";
  InputFolder() {
    std::filesystem::create_directories(dir);
    vramkit::write_safetensors(dir / "a.safetensors",
                               {{"x", vramkit::Tensor::zeros({2, 3}, vramkit::DType::f32)},
                                {"y", vramkit::Tensor::zeros({4}, vramkit::DType::bf16)}});
    for (const auto& copy : {merges_dir, config_dir})
      std::filesystem::copy(VRAMKIT_FUZZ_TOKENIZER_DIR, copy, std::filesystem::copy_options::recursive);
  }
  ~InputFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

const InputFolder& input_folder() {
  static const InputFolder folder;
  return folder;
}

void write(const std::filesystem::path& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out.flush()) __builtin_trap();
}

template <typename Load>
void load(Load&& fn) {
  try {
    fn();
  } catch (const vramkit::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const InputFolder& folder = input_folder();
  const std::filesystem::path& file = folder.file;
  write(file, data, size);
  write(folder.merges_dir / "merges.txt", data, size);
  write(folder.config_dir / "tokenizer_config.json", data, size);
  load([&] { vramkit::qwen_image::DitConfig::from_json_file(file); });
  load([&] { vramkit::qwen_image::VaeConfig::from_json_file(file); });
  load([&] { vramkit::qwen_image::TextEncoderConfig::from_json_file(file); });
  load([&] { vramkit::qwen_image::FlowMatchSchedulerConfig::from_json_file(file); });
  load([&] { vramkit::VramConfig::from_json_file(file); });
  load([&] { vramkit::Qwen2Tokenizer::from_tokenizer_json(file); });
  load([&] { vramkit::Qwen2Tokenizer::from_directory(folder.merges_dir); });
  load([&] { vramkit::Qwen2Tokenizer::from_directory(folder.config_dir); });
  load([&] {
    const vramkit::WeightFiles files = vramkit::WeightFiles::open(file);
    unsigned checksum = 0;
    for (const vramkit::WeightTensor& t : files.tensors()) {
      const vramkit::Tensor view = files.view(t.name());
      const auto* bytes = static_cast<const unsigned char*>(view.data());
      for (std::size_t i = 0; i < view.nbytes(); ++i) checksum += bytes[i];
    }
    asm volatile("" : : "r"(checksum));  // keeps the reads
  });
  return 0;
}
