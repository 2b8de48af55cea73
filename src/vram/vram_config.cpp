#include "vram/vram_config.h"

#include <charconv>
#include <fstream>
#include <nlohmann/json.hpp>

#include "vramkit/error.h"

namespace vramkit {
namespace {

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

// The key names in the order DiffSynth-Studio documents them, with the member each one sets.
struct KeyRef {
  const char* name;
  std::optional<StorageDType> VramConfig::*dtype;
  std::optional<Placement> VramConfig::*device;
};

constexpr KeyRef kKeys[] = {
    {"offload_dtype", &VramConfig::offload_dtype, nullptr},
    {"offload_device", nullptr, &VramConfig::offload_device},
    {"onload_dtype", &VramConfig::onload_dtype, nullptr},
    {"onload_device", nullptr, &VramConfig::onload_device},
    {"preparing_dtype", &VramConfig::preparing_dtype, nullptr},
    {"preparing_device", nullptr, &VramConfig::preparing_device},
    {"computation_dtype", &VramConfig::computation_dtype, nullptr},
    {"computation_device", nullptr, &VramConfig::computation_device},
};

StateConfig state(const char* key, const std::optional<StorageDType>& dtype, const std::optional<Placement>& device,
                  const StateConfig& computation) {
  StateConfig s;
  s.device = device.value_or(computation.device);
  if (s.device.kind == Placement::Kind::disk) {
    if (dtype && !dtype->keep_file_dtype)
      throw ArgumentError(std::string(key) + "_dtype " + in_quotes(dtype->str()) + " is not possible on disk: " +
                          key + "_device is 'disk', which keeps the file's dtype (use 'disk' or leave it unset)");
    s.dtype.keep_file_dtype = true;
  } else {
    s.dtype = dtype.value_or(computation.dtype);
  }
  if (s.device.kind == Placement::Kind::accelerator && computation.device.kind == Placement::Kind::accelerator &&
      s.device.index != computation.device.index) {
    throw ArgumentError(std::string(key) + "_device " + in_quotes(s.device.str()) +
                        " is not the computation device " + in_quotes(computation.device.str()) +
                        ": a run uses one accelerator");
  }
  return s;
}

}  // namespace

Placement Placement::parse(std::string_view s, std::string_view key) {
  Placement p;
  if (s == "disk") {
    p.kind = Kind::disk;
  } else if (s == "cpu") {
    p.kind = Kind::cpu;
  } else if (s == "cuda" || s == "emu") {
    p.kind = Kind::accelerator;
  } else if (s.starts_with("cuda:") || s.starts_with("emu:")) {
    p.kind = Kind::accelerator;
    const std::string_view num = s.substr(s.find(':') + 1);
    const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), p.index);
    if (num.empty() || ec != std::errc() || end != num.data() + num.size() || p.index < 0 || p.index > 63)
      throw ArgumentError(std::string(key) + ": invalid device " + in_quotes(s) + " (expected an index 0-63 after ':')");
  } else {
    throw ArgumentError(std::string(key) + ": unknown device " + in_quotes(s) +
                        " (expected disk, cpu, cuda or cuda:N)");
  }
  return p;
}

std::string Placement::str() const {
  switch (kind) {
    case Kind::disk:
      return "disk";
    case Kind::cpu:
      return "cpu";
    case Kind::accelerator:
      return index < 0 ? "cuda" : "cuda:" + std::to_string(index);
  }
  return "?";
}

StorageDType StorageDType::parse(std::string_view s, std::string_view key) {
  if (s == "disk") return {true, DType::bf16};
  try {
    const DType d = parse_dtype(s);
    if (!is_floating(d) || d == DType::f64)
      throw ArgumentError("weights are stored as f32, f16, bf16, f8_e4m3fn or f8_e5m2");
    return of(d);
  } catch (const ArgumentError& e) {
    throw ArgumentError(std::string(key) + ": invalid dtype " + in_quotes(s) + ": " + e.what());
  }
}

std::string StorageDType::str() const { return keep_file_dtype ? "disk" : std::string(dtype_name(dtype)); }

std::string ResolvedVramConfig::str() const {
  const auto one = [](const char* name, const StateConfig& s) {
    return std::string(name) + "=" + s.dtype.str() + "@" + s.device.str();
  };
  return one("offload", offload) + " " + one("onload", onload) + " " + one("preparing", preparing) + " " +
         one("computation", computation);
}

VramConfig VramConfig::preset(std::string_view name) {
  const auto cpu = Placement{Placement::Kind::cpu, -1};
  const auto gpu = Placement{Placement::Kind::accelerator, -1};
  const auto disk = Placement{Placement::Kind::disk, -1};
  const auto bf16 = StorageDType::of(DType::bf16);
  const auto fp8 = StorageDType::of(DType::f8_e4m3fn);
  const auto file = StorageDType{true, DType::bf16};
  VramConfig c;
  c.computation_dtype = bf16;
  c.computation_device = gpu;
  if (name == "none") return c;
  if (name == "cpu") {
    c.offload_dtype = bf16, c.offload_device = cpu;
    c.onload_dtype = bf16, c.onload_device = gpu;
    c.preparing_dtype = bf16, c.preparing_device = gpu;
  } else if (name == "fp8") {
    c.offload_dtype = fp8, c.offload_device = cpu;
    c.onload_dtype = fp8, c.onload_device = gpu;
    c.preparing_dtype = fp8, c.preparing_device = gpu;
  } else if (name == "dynamic") {
    c.offload_dtype = fp8, c.offload_device = cpu;
    c.onload_dtype = fp8, c.onload_device = cpu;
    c.preparing_dtype = fp8, c.preparing_device = gpu;
  } else if (name == "disk") {
    c.offload_dtype = file, c.offload_device = disk;
    c.onload_dtype = file, c.onload_device = disk;
    c.preparing_dtype = fp8, c.preparing_device = gpu;
  } else {
    throw ArgumentError("unknown offload preset " + in_quotes(name) + " (expected none, cpu, fp8, dynamic or disk)");
  }
  return c;
}

VramConfig VramConfig::from_json(const nlohmann::json& j, std::string_view source) {
  if (!j.is_object()) throw ArgumentError(std::string(source) + ": a VRAM config must be a JSON object");
  VramConfig c;
  for (const auto& [key, value] : j.items()) {
    const KeyRef* ref = nullptr;
    for (const auto& k : kKeys)
      if (key == k.name) ref = &k;
    if (!ref) throw ArgumentError(std::string(source) + ": unknown key " + in_quotes(key));
    if (value.is_null()) continue;
    if (!value.is_string())
      throw ArgumentError(std::string(source) + ": " + key + " must be a string, got " + value.dump());
    const std::string where = std::string(source) + ": " + key;
    if (ref->dtype) c.*(ref->dtype) = StorageDType::parse(value.get<std::string>(), where);
    if (ref->device) c.*(ref->device) = Placement::parse(value.get<std::string>(), where);
  }
  return c;
}

namespace {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot open VRAM config " + path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError("VRAM config " + path.string() + " is not valid JSON: " + e.what());
  }
}

bool is_component_name(const std::string& key) {
  return key == "text_encoder" || key == "transformer" || key == "vae";
}

}  // namespace

VramConfig VramConfig::from_json_file(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

VramConfig VramConfig::from_json_file_for(const std::filesystem::path& path, std::string_view component) {
  const nlohmann::json j = read_json_file(path);
  std::size_t per_component = 0;
  if (j.is_object())
    for (const auto& [key, value] : j.items()) per_component += is_component_name(key);
  if (per_component == 0) return from_json(j, path.string());
  if (per_component != j.size())
    throw ArgumentError("VRAM config " + path.string() +
                        ": mixes component objects (text_encoder, transformer, vae) with top-level keys");
  if (component.empty())
    throw ArgumentError("VRAM config " + path.string() +
                        " holds one object per component; this command needs one object of the eight keys");
  const std::string name(component);
  if (!j.contains(name)) return {};
  return from_json(j.at(name), path.string() + ": " + name);
}

VramConfig VramConfig::with_storage_dtype(DType dtype) const {
  VramConfig c = *this;
  const auto set = [&](std::optional<StorageDType>& d, const std::optional<Placement>& dev) {
    if (dev && dev->kind == Placement::Kind::disk) return;
    d = StorageDType::parse(dtype_name(dtype), "--storage-dtype");
  };
  set(c.offload_dtype, c.offload_device);
  set(c.onload_dtype, c.onload_device);
  set(c.preparing_dtype, c.preparing_device);
  return c;
}

ResolvedVramConfig VramConfig::resolve() const {
  StateConfig computation;
  computation.device = computation_device.value_or(Placement{});
  if (computation.device.kind == Placement::Kind::disk)
    throw ArgumentError("computation_device 'disk' is not possible: computation runs on cpu or the accelerator");
  computation.dtype = computation_dtype.value_or(StorageDType::of(DType::bf16));
  const DType cd = computation.dtype.dtype;
  if (computation.dtype.keep_file_dtype || (cd != DType::f32 && cd != DType::bf16 && cd != DType::f16))
    throw ArgumentError("computation_dtype " + in_quotes(computation.dtype.str()) +
                        " is not possible: computation runs in f32, bf16 or f16");
  ResolvedVramConfig r;
  r.computation = computation;
  r.offload = state("offload", offload_dtype, offload_device, computation);
  r.onload = state("onload", onload_dtype, onload_device, computation);
  r.preparing = state("preparing", preparing_dtype, preparing_device, computation);
  if (r.preparing.device.kind == Placement::Kind::disk)
    throw ArgumentError("preparing_device 'disk' is not possible: the preparing state is resident memory");
  return r;
}

}  // namespace vramkit
