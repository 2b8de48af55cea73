// The tiny golden text encoder of tools/golden/make_qwen_image_text_encoder_golden.py rebuilt as a full-shape
// checkpoint: the committed folder stores the embedding rows the golden ids use and no lm_head (a 152,064-row
// table is too big to commit); this writes a temporary text_encoder folder with the whole table (unused rows
// zero), a zero lm_head of its real shape and every other tensor as stored, under either key naming. Also the
// golden cases and a run of them under one memory mode on a given accelerator, shared by the checks on every
// device (text_encoder_checks.h) and the emulated device's own tests (text_encoder_test.cpp).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "backends/accelerator.h"
#include "io/model_files.h"
#include "io/safetensors.h"
#include "model_test_util.h"
#include "models/qwen_image/text_encoder.h"
#include "models/qwen_image/text_encoder_config.h"
#include "vram/manager.h"

namespace vramkit::qwen_image::test {

inline const std::filesystem::path kGoldenTextEncoder =
    std::filesystem::path(VRAMKIT_TEST_DATA) / "qwen_image_text_encoder_tiny";

// A fresh directory under the test temp dir, unique per test.
inline std::filesystem::path fresh_temp_dir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("vramkit_" + tag + "_" + info->test_suite_name() + "_" + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The stored name under `naming` (the committed file uses the legacy names).
inline std::string renamed(const std::string& legacy, TextEncoderKeyNaming naming) {
  if (naming == TextEncoderKeyNaming::legacy) return legacy;
  if (legacy.rfind("model.", 0) == 0) return "model.language_model." + legacy.substr(6);
  if (legacy.rfind("visual.", 0) == 0) return "model." + legacy;
  return legacy;
}

// The tensors of the full checkpoint, in the order they are written.
inline std::vector<std::pair<std::string, Tensor>> full_text_encoder_tensors(TextEncoderKeyNaming naming) {
  const std::filesystem::path folder = kGoldenTextEncoder / "text_encoder";
  const TextEncoderConfig config = TextEncoderConfig::from_json_file(folder / "config.json");
  const WeightFiles sparse = WeightFiles::open(folder / "sparse_weights.safetensors");
  const Tensor row_ids = sparse.view("model.embed_tokens.row_ids").to(DType::i64);
  const Tensor rows = sparse.view("model.embed_tokens.rows").contiguous();
  Tensor table = Tensor::zeros({config.vocab_size, config.hidden_size}, rows.dtype());
  const std::size_t row_bytes = static_cast<std::size_t>(config.hidden_size) * rows.element_size();
  for (std::int64_t r = 0; r < row_ids.numel(); ++r)
    std::memcpy(static_cast<char*>(table.data()) + row_ids.data_as<std::int64_t>()[r] * row_bytes,
                static_cast<const char*>(rows.data()) + r * row_bytes, row_bytes);
  std::vector<std::pair<std::string, Tensor>> tensors;
  tensors.emplace_back(renamed("model.embed_tokens.weight", naming), table);
  for (const WeightTensor& t : sparse.tensors())
    if (t.name() != "model.embed_tokens.row_ids" && t.name() != "model.embed_tokens.rows")
      tensors.emplace_back(renamed(t.name(), naming), sparse.view(t.name()));
  tensors.emplace_back("lm_head.weight", Tensor::zeros(table.shape(), table.dtype()));
  return tensors;
}

// Writes DIR/text_encoder/{config.json, model.safetensors} (and DIR/model_index.json, so that DIR is a model
// folder) and returns DIR.
inline std::filesystem::path write_full_text_encoder(const std::filesystem::path& dir,
                                                     TextEncoderKeyNaming naming = TextEncoderKeyNaming::legacy) {
  std::filesystem::create_directories(dir / "text_encoder");
  std::filesystem::copy_file(kGoldenTextEncoder / "model_index.json", dir / "model_index.json",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(kGoldenTextEncoder / "text_encoder" / "config.json",
                             dir / "text_encoder" / "config.json", std::filesystem::copy_options::overwrite_existing);
  write_safetensors(dir / "text_encoder" / "model.safetensors", full_text_encoder_tensors(naming),
                    {{"format", "pt"}});
  return dir;
}

// write_full_text_encoder's folder (legacy key naming) for the whole test binary: written on first use, so
// that a binary whose tests skip writes nothing, and removed when the binary exits.
inline const std::filesystem::path& shared_full_text_encoder() {
  struct Written {
    std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                ("vramkit_text_encoder_full_" + std::to_string(getpid()));
    Written() {
      std::filesystem::remove_all(dir);
      write_full_text_encoder(dir);
    }
    ~Written() {
      std::error_code ignored;  // at exit: nothing left to report a failure to
      std::filesystem::remove_all(dir, ignored);
    }
  };
  static const Written written;
  return written.dir;
}

// A golden case: real token ids of the prompt template (and a padding mask) and the reference's float32
// post-norm last hidden states.
struct TextEncoderCase {
  Tensor input_ids, attention_mask, expected;
};

// "template" (one unpadded prompt), then "padded" (a right-padded batch of two with its attention mask).
inline std::vector<TextEncoderCase> load_text_encoder_cases() {
  const WeightFiles golden = WeightFiles::open(kGoldenTextEncoder / "golden.safetensors");
  std::vector<TextEncoderCase> cases;
  for (const std::string name : {"template", "padded"}) {
    TextEncoderCase c;
    c.input_ids = golden.view(name + ".input_ids").clone();
    if (golden.contains(name + ".attention_mask"))
      c.attention_mask = golden.view(name + ".attention_mask").clone();
    c.expected = golden.view(name + ".hidden_states").clone();
    cases.push_back(std::move(c));
  }
  return cases;
}

// Runs every case under `mode` on `accelerator` with the model folder `model` (write_full_text_encoder's),
// onloaded first; the outputs in case order.
inline std::vector<Tensor> run_text_encoder_cases(std::shared_ptr<Accelerator> accelerator,
                                                  const std::filesystem::path& model,
                                                  const vramkit::test::Mode& mode,
                                                  const std::vector<TextEncoderCase>& cases) {
  VramManager manager(std::move(accelerator), vramkit::test::manager_options(mode));
  auto encoder = QwenImageTextEncoder::open(manager, model, mode.config);
  encoder->onload();
  std::vector<Tensor> outputs;
  for (const TextEncoderCase& c : cases) outputs.push_back(encoder->forward(c.input_ids, c.attention_mask));
  return outputs;
}

}  // namespace vramkit::qwen_image::test
