#include "vram/vram_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "vramkit/error.h"

namespace vramkit {
namespace {

using Kind = Placement::Kind;

void expect_error_mentions(const std::function<void()>& f, std::initializer_list<const char*> words) {
  try {
    f();
    FAIL() << "no error";
  } catch (const Error& e) {
    for (const char* w : words) EXPECT_NE(std::string(e.what()).find(w), std::string::npos) << e.what();
  }
}

TEST(VramConfig, DefaultsFollowTheComputationState) {
  const auto r = VramConfig{}.resolve();
  for (const auto* s : {&r.offload, &r.onload, &r.preparing, &r.computation}) {
    EXPECT_EQ(s->dtype, StorageDType::of(DType::bf16));
    EXPECT_EQ(s->device.kind, Kind::accelerator);
  }
  VramConfig c;
  c.computation_dtype = StorageDType::of(DType::f16);
  c.computation_device = Placement{Kind::cpu, -1};
  c.offload_device = Placement{Kind::cpu, -1};
  const auto r2 = c.resolve();
  EXPECT_EQ(r2.onload.dtype, StorageDType::of(DType::f16));
  EXPECT_EQ(r2.preparing.device.kind, Kind::cpu);
}

TEST(VramConfig, PresetsReproduceTheDocumentedConfigurations) {
  // (offload, onload, preparing, computation) as DiffSynth-Studio documents them for Qwen-Image.
  const std::map<std::string, std::string> expected = {
      {"none", "offload=bf16@cuda onload=bf16@cuda preparing=bf16@cuda computation=bf16@cuda"},
      {"cpu", "offload=bf16@cpu onload=bf16@cuda preparing=bf16@cuda computation=bf16@cuda"},
      {"fp8", "offload=f8_e4m3fn@cpu onload=f8_e4m3fn@cuda preparing=f8_e4m3fn@cuda computation=bf16@cuda"},
      {"dynamic", "offload=f8_e4m3fn@cpu onload=f8_e4m3fn@cpu preparing=f8_e4m3fn@cuda computation=bf16@cuda"},
      {"disk", "offload=disk@disk onload=disk@disk preparing=f8_e4m3fn@cuda computation=bf16@cuda"},
  };
  for (const auto& [name, line] : expected) EXPECT_EQ(VramConfig::preset(name).resolve().str(), line) << name;
  expect_error_mentions([] { VramConfig::preset("turbo"); }, {"'turbo'", "dynamic"});
}

TEST(VramConfig, StorageDTypeOverridesAllButDisk) {
  EXPECT_EQ(VramConfig::preset("dynamic").with_storage_dtype(DType::bf16).resolve().str(),
            "offload=bf16@cpu onload=bf16@cpu preparing=bf16@cuda computation=bf16@cuda");
  EXPECT_EQ(VramConfig::preset("disk").with_storage_dtype(DType::bf16).resolve().str(),
            "offload=disk@disk onload=disk@disk preparing=bf16@cuda computation=bf16@cuda");
}

TEST(VramConfig, ParsesJsonWithEverySpelling) {
  const auto j = nlohmann::json::parse(R"({
    "offload_dtype": "float8_e4m3fn", "offload_device": "cpu",
    "onload_dtype": "fp8", "onload_device": "cpu",
    "preparing_dtype": "float8_e5m2", "preparing_device": "cuda:0",
    "computation_dtype": "bfloat16", "computation_device": "cuda:0"})");
  const auto r = VramConfig::from_json(j).resolve();
  EXPECT_EQ(r.str(), "offload=f8_e4m3fn@cpu onload=f8_e4m3fn@cpu preparing=f8_e5m2@cuda:0 computation=bf16@cuda:0");
  EXPECT_EQ(VramConfig::from_json(nlohmann::json::parse(R"({"offload_device": null})")).offload_device, std::nullopt);
}

TEST(VramConfig, BadValuesNameTheKeyAndValue) {
  using nlohmann::json;
  expect_error_mentions([] { VramConfig::from_json(json::parse(R"({"offload_device": "gpu"})")); },
                        {"offload_device", "'gpu'"});
  expect_error_mentions([] { VramConfig::from_json(json::parse(R"({"onload_dtype": "float12"})")); },
                        {"onload_dtype", "'float12'"});
  expect_error_mentions([] { VramConfig::from_json(json::parse(R"({"onload_dtype": "int8"})")); },
                        {"onload_dtype", "'int8'"});
  expect_error_mentions([] { VramConfig::from_json(json::parse(R"({"prepare_device": "cpu"})")); },
                        {"unknown key", "'prepare_device'"});
  expect_error_mentions([] { VramConfig::from_json(json::parse(R"({"offload_device": 3})")); },
                        {"offload_device", "string"});
  expect_error_mentions([] { VramConfig::from_json(json::parse("[1]")); }, {"object"});
  expect_error_mentions([] { VramConfig::from_json(json::parse(R"({"preparing_device": "disk"})")).resolve(); },
                        {"preparing_device", "'disk'"});
  expect_error_mentions([] { VramConfig::from_json(json::parse(R"({"computation_dtype": "fp8"})")).resolve(); },
                        {"computation_dtype", "f8_e4m3fn"});
  expect_error_mentions(
      [] { VramConfig::from_json(json::parse(R"({"offload_device": "disk", "offload_dtype": "bf16"})")).resolve(); },
      {"offload_dtype", "'bf16'", "disk"});
  expect_error_mentions(
      [] { VramConfig::from_json(json::parse(R"({"onload_device": "cuda:1", "computation_device": "cuda:0"})")).resolve(); },
      {"onload_device", "cuda:1", "cuda:0"});
  expect_error_mentions([] { Placement::parse("cuda:x", "--device"); }, {"--device", "'cuda:x'"});
}

TEST(VramConfig, ReadsJsonFilesAndReportsBadOnes) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto good = dir / "vramkit_vram_config_good.json";
  const auto bad = dir / "vramkit_vram_config_bad.json";
  std::ofstream(good) << R"({"offload_device": "cpu", "offload_dtype": "fp8"})";
  std::ofstream(bad) << R"({"offload_device": )";
  EXPECT_EQ(VramConfig::from_json_file(good).resolve().offload.dtype, StorageDType::of(DType::f8_e4m3fn));
  expect_error_mentions([&] { VramConfig::from_json_file(bad); }, {"vramkit_vram_config_bad.json", "JSON"});
  expect_error_mentions([&] { VramConfig::from_json_file(dir / "no_such_vram.json"); }, {"no_such_vram.json"});
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}

// `--vram-config` for a pipeline: one object per component, each component taking its own.
TEST(VramConfig, PerComponentFilesGiveEachComponentItsObject) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto per = dir / "vramkit_vram_config_per_component.json";
  const auto mixed = dir / "vramkit_vram_config_mixed.json";
  const auto flat = dir / "vramkit_vram_config_flat.json";
  std::ofstream(per) << R"({"transformer": {"offload_device": "cpu", "offload_dtype": "fp8"},
                            "vae": {"computation_dtype": "float32"}})";
  std::ofstream(mixed) << R"({"transformer": {}, "offload_device": "cpu"})";
  std::ofstream(flat) << R"({"offload_device": "disk"})";
  EXPECT_EQ(VramConfig::from_json_file_for(per, "transformer").offload_dtype, StorageDType::of(DType::f8_e4m3fn));
  EXPECT_EQ(VramConfig::from_json_file_for(per, "vae").computation_dtype, StorageDType::of(DType::f32));
  EXPECT_FALSE(VramConfig::from_json_file_for(per, "text_encoder").offload_device.has_value());
  EXPECT_EQ(VramConfig::from_json_file_for(flat, "vae").offload_device->kind, Placement::Kind::disk);
  EXPECT_EQ(VramConfig::from_json_file_for(flat, "").offload_device->kind, Placement::Kind::disk);
  expect_error_mentions([&] { VramConfig::from_json_file_for(per, ""); }, {"per_component.json", "one object per component"});
  expect_error_mentions([&] { VramConfig::from_json_file_for(mixed, "vae"); }, {"mixed.json", "mixes"});
  std::ofstream(per) << R"({"vae": {"onload_device": "gpu"}})";
  expect_error_mentions([&] { VramConfig::from_json_file_for(per, "vae"); }, {"per_component.json: vae", "gpu"});
  for (const auto& f : {per, mixed, flat}) std::filesystem::remove(f);
}

}  // namespace
}  // namespace vramkit
