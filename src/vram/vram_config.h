// VramConfig: DiffSynth-Studio's eight keys that place one model's weights in each residency state.
//
//   offload_*      where the weights live while the model's pipeline stage is not active
//   onload_*       ... while its stage is active
//   preparing_*    ... for a unit kept resident on the accelerator because the budget allows
//   computation_*  the transient precision and device of the actual computation
//
// Devices: "disk", "cpu", "cuda" (= the accelerator this run uses, whatever --device names: a CUDA GPU or the
// emulated device), "cuda:N". Dtypes: f32/f16/bf16/f8_e4m3fn/f8_e5m2 in any spelling parse_dtype accepts, or
// "disk" (keep the file's dtype). Defaults as DiffSynth-Studio documents them: computation = bf16 on the
// accelerator; an unset dtype follows the computation dtype, an unset device the computation device.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "core/dtype.h"

namespace vramkit {

// Where a state's bytes are: on disk (read from the safetensors files), in host RAM, or on the accelerator.
struct Placement {
  enum class Kind { disk, cpu, accelerator };
  Kind kind = Kind::accelerator;
  int index = -1;  // for the accelerator: -1 = the run's device, N = "cuda:N"

  // "disk", "cpu", "cuda", "cuda:N". Throws ArgumentError naming `key` and the value.
  static Placement parse(std::string_view s, std::string_view key);
  std::string str() const;
  friend bool operator==(const Placement&, const Placement&) = default;
};

// A state's dtype: a concrete dtype, or "disk" = whatever dtype each tensor has in the file.
struct StorageDType {
  bool keep_file_dtype = false;
  DType dtype = DType::bf16;

  static StorageDType parse(std::string_view s, std::string_view key);
  static StorageDType of(DType d) { return {false, d}; }
  // The dtype a tensor stored as `file_dtype` takes in this state.
  DType resolve(DType file_dtype) const { return keep_file_dtype ? file_dtype : dtype; }
  std::string str() const;
  friend bool operator==(const StorageDType&, const StorageDType&) = default;
};

// One state of the four, fully resolved.
struct StateConfig {
  StorageDType dtype;
  Placement device;
};

// The four states with every default applied and the combination validated.
struct ResolvedVramConfig {
  StateConfig offload, onload, preparing, computation;
  std::string str() const;  // one line: "offload=fp8@cpu onload=..."
};

struct VramConfig {
  std::optional<StorageDType> offload_dtype, onload_dtype, preparing_dtype, computation_dtype;
  std::optional<Placement> offload_device, onload_device, preparing_device, computation_device;

  // Named configurations of DiffSynth-Studio's documentation: none | cpu | fp8 | dynamic | disk.
  // Throws ArgumentError listing the names for anything else.
  static VramConfig preset(std::string_view name);
  // The eight keys from a JSON object (unknown keys and non-string values are errors naming the key).
  static VramConfig from_json(const nlohmann::json& j, std::string_view source = "vram config");
  static VramConfig from_json_file(const std::filesystem::path& path);
  // A file that holds either one object of the eight keys (for every component) or one such object per
  // component ({"text_encoder": {...}, "transformer": {...}, "vae": {...}}): the object for `component`
  // (empty when the file has none for it). A per-component file with an empty `component`, or a mix of both
  // forms, is an ArgumentError naming the file.
  static VramConfig from_json_file_for(const std::filesystem::path& path, std::string_view component);

  // Sets the storage dtype of the offload/onload/preparing states (`--storage-dtype`), except where a state
  // reads from disk, whose dtype stays "disk" unless `dtype` says otherwise there.
  VramConfig with_storage_dtype(DType dtype) const;

  // Applies the defaults and validates, throwing ArgumentError naming the key and value:
  //  - computation: on cpu or the accelerator, in f32, bf16 or f16 (default bf16 on the accelerator);
  //  - an unset device follows the computation device; an unset dtype follows the computation dtype, except
  //    on disk, where the dtype is always the file's ("disk"; anything else is an error: files are not
  //    rewritten);
  //  - preparing may not be on disk (it is the resident state);
  //  - every accelerator named must be the computation's (one accelerator per run).
  ResolvedVramConfig resolve() const;
};

}  // namespace vramkit
