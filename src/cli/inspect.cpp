#include "cli/inspect.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/human_bytes.h"
#include "io/model_folder.h"

namespace vramkit::cli {
namespace {

namespace fs = std::filesystem;

// One row of the report: a set of weights under a display name.
struct InspectedComponent {
  std::string name;
  fs::path source;
  std::string class_name;  // diffusers components only
  std::optional<WeightFiles> weights;
};

struct Totals {
  std::uint64_t tensors = 0;
  std::uint64_t bytes = 0;
  void add(std::uint64_t n, std::uint64_t b) { tensors += n, bytes += b; }
};

using DTypeTotals = std::map<std::string, Totals>;  // by dtype name, sorted

std::string display_name(const fs::path& path) {
  const fs::path name = path.filename().empty() ? path.parent_path().filename() : path.filename();
  return name.empty() ? path.string() : name.string();
}

std::vector<InspectedComponent> collect(const InspectOptions& options) {
  std::vector<InspectedComponent> components;
  for (const std::string& arg : options.paths) {
    const fs::path path(arg);
    if (!options.pattern.empty()) {
      components.push_back({options.pattern, path, "", WeightFiles::open_pattern(path, options.pattern)});
    } else if (ModelFolder::is_model_folder(path)) {
      ModelFolder folder = ModelFolder::open(path);
      for (const ModelComponent& c : folder.components())
        components.push_back({c.name, c.folder, c.class_name, c.weights});
    } else {
      components.push_back({display_name(path), path, "", WeightFiles::open(path)});
    }
  }
  return components;
}

DTypeTotals dtype_totals(const WeightFiles& weights) {
  DTypeTotals totals;
  for (const WeightTensor& t : weights.tensors())
    totals[std::string(dtype_name(t.dtype()))].add(1, t.bytes());
  return totals;
}

void write_totals_line(std::ostream& out, const std::string& label, std::size_t width, const Totals& t) {
  out << "  " << std::left << std::setw(static_cast<int>(width)) << label << std::right << std::setw(9)
      << t.tensors << " tensors " << std::setw(14) << t.bytes << " bytes  (" << human_bytes(t.bytes) << ")\n";
}

void write_text(const std::vector<InspectedComponent>& components, std::ostream& out) {
  Totals all;
  DTypeTotals all_by_dtype;
  std::size_t label_width = 5;  // "total"
  for (const InspectedComponent& c : components) {
    out << c.name;
    if (!c.class_name.empty()) out << "  (" << c.class_name << ")";
    out << "  " << c.source.string() << "\n";
    label_width = std::max(label_width, c.name.size());
    if (!c.weights) {
      out << "  no weights\n\n";
      continue;
    }
    const WeightFiles& w = *c.weights;
    out << "  files: " << w.files().size() << "\n";
    std::size_t name_width = 4;
    std::size_t shape_width = 5;
    for (const WeightTensor& t : w.tensors()) {
      name_width = std::max(name_width, t.name().size());
      shape_width = std::max(shape_width, t.shape().str().size());
    }
    out << "  " << std::left << std::setw(static_cast<int>(name_width)) << "name"
        << "  " << std::setw(9) << "dtype" << std::setw(static_cast<int>(shape_width)) << "shape"
        << "  " << std::right << std::setw(12) << "bytes"
        << "\n";
    for (const WeightTensor& t : w.tensors()) {
      out << "  " << std::left << std::setw(static_cast<int>(name_width)) << t.name() << "  " << std::setw(9)
          << dtype_name(t.dtype()) << std::setw(static_cast<int>(shape_width)) << t.shape().str() << "  "
          << std::right << std::setw(12) << human_bytes(t.bytes()) << "\n";
    }
    const DTypeTotals by_dtype = dtype_totals(w);
    for (const auto& [dtype, totals] : by_dtype) {
      write_totals_line(out, dtype, name_width, totals);
      all_by_dtype[dtype].add(totals.tensors, totals.bytes);
    }
    write_totals_line(out, "total", name_width, Totals{w.size(), w.total_bytes()});
    all.add(w.size(), w.total_bytes());
    out << "\n";
  }
  out << "by component\n";
  for (const InspectedComponent& c : components) {
    if (c.weights)
      write_totals_line(out, c.name, label_width, Totals{c.weights->size(), c.weights->total_bytes()});
  }
  out << "by dtype\n";
  for (const auto& [dtype, totals] : all_by_dtype) write_totals_line(out, dtype, label_width, totals);
  write_totals_line(out, "total", label_width, all);
}

nlohmann::ordered_json totals_json(const Totals& totals, const DTypeTotals& by_dtype) {
  nlohmann::ordered_json j;
  j["tensors"] = totals.tensors;
  j["bytes"] = totals.bytes;
  nlohmann::ordered_json dtypes = nlohmann::ordered_json::object();
  for (const auto& [dtype, t] : by_dtype) dtypes[dtype] = {{"tensors", t.tensors}, {"bytes", t.bytes}};
  j["by_dtype"] = std::move(dtypes);
  return j;
}

void write_json(const std::vector<InspectedComponent>& components, std::ostream& out) {
  nlohmann::ordered_json doc;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  Totals all;
  DTypeTotals all_by_dtype;
  for (const InspectedComponent& c : components) {
    nlohmann::ordered_json jc;
    jc["name"] = c.name;
    jc["path"] = c.source.string();
    if (!c.class_name.empty()) jc["class"] = c.class_name;
    nlohmann::ordered_json files = nlohmann::ordered_json::array();
    nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
    Totals totals;
    DTypeTotals by_dtype;
    if (c.weights) {
      for (const auto& f : c.weights->files()) files.push_back(f->path().string());
      for (const WeightTensor& t : c.weights->tensors()) {
        const std::span<const std::int64_t> dims = t.shape().dims();
        tensors.push_back({{"name", t.name()},
                           {"dtype", dtype_name(t.dtype())},
                           {"shape", std::vector<std::int64_t>(dims.begin(), dims.end())},
                           {"bytes", t.bytes()},
                           {"file", c.weights->file(t).path().string()},
                           {"offset", t.file_offset}});
      }
      by_dtype = dtype_totals(*c.weights);
      totals = Totals{c.weights->size(), c.weights->total_bytes()};
    }
    for (const auto& [dtype, t] : by_dtype) all_by_dtype[dtype].add(t.tensors, t.bytes);
    all.add(totals.tensors, totals.bytes);
    jc["files"] = std::move(files);
    jc["tensors"] = std::move(tensors);
    jc["totals"] = totals_json(totals, by_dtype);
    list.push_back(std::move(jc));
  }
  doc["components"] = std::move(list);
  doc["totals"] = totals_json(all, all_by_dtype);
  out << doc.dump(2) << "\n";
}

}  // namespace

void add_inspect_arguments(CLI::App& command, InspectOptions& options) {
  command
      .add_option("paths", options.paths,
                  "safetensors files, *.safetensors.index.json files, component folders or diffusers model "
                  "folders")
      ->required();
  command.add_option("--pattern", options.pattern,
                     "a file pattern relative to each PATH, as DiffSynth-Studio's origin_file_pattern "
                     "(e.g. 'transformer/diffusion_pytorch_model*.safetensors')");
  command.add_flag("--json", options.json, "print one JSON document instead of tables");
}

void run_inspect(const InspectOptions& options, std::ostream& out) {
  const std::vector<InspectedComponent> components = collect(options);
  if (options.json)
    write_json(components, out);
  else
    write_text(components, out);
}

}  // namespace vramkit::cli
