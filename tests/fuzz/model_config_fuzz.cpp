// libFuzzer target for the JSON files of a model folder, which users download or edit by hand: the
// transformer's, VAE's and text encoder's config.json, the scheduler's scheduler_config.json, a
// --vram-config file and the tokenizer's tokenizer.json. The input is written to a file and read by each
// loader; each must load it or throw a vramkit::Error naming what is wrong. Anything else (a JSON library
// exception leaking through, std::bad_alloc from a size taken on trust, a crash, an AddressSanitizer or
// UndefinedBehaviorSanitizer report) is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "models/qwen_image/dit_config.h"
#include "models/qwen_image/scheduler.h"
#include "models/qwen_image/text_encoder_config.h"
#include "models/qwen_image/tokenizer.h"
#include "models/qwen_image/vae_config.h"
#include "vram/vram_config.h"
#include "vramkit/error.h"

namespace {

// A file of this process's own under the temporary directory, rewritten for every input.
const std::filesystem::path& input_file() {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("vramkit_model_config_fuzz_" + std::to_string(getpid()) + ".json");
  return path;
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
  const std::filesystem::path& file = input_file();
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out.flush()) __builtin_trap();
  }
  load([&] { vramkit::qwen_image::DitConfig::from_json_file(file); });
  load([&] { vramkit::qwen_image::VaeConfig::from_json_file(file); });
  load([&] { vramkit::qwen_image::TextEncoderConfig::from_json_file(file); });
  load([&] { vramkit::qwen_image::FlowMatchSchedulerConfig::from_json_file(file); });
  load([&] { vramkit::VramConfig::from_json_file(file); });
  load([&] { vramkit::Qwen2Tokenizer::from_tokenizer_json(file); });
  return 0;
}
