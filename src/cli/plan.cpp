#include "cli/plan.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "io/model_folder.h"
#include "vram/planner.h"
#include "vram/unit_layout.h"
#include "vramkit/error.h"

namespace vramkit::cli {
namespace {

struct Component {
  std::string name;
  const WeightFiles* weights;
};

nlohmann::ordered_json plan_json(const std::string& name, const Plan& plan) {
  nlohmann::ordered_json j;
  j["component"] = name;
  j["units"] = nlohmann::json::array();
  for (std::size_t i = 0; i < plan.units.size(); ++i) {
    const auto& u = plan.units[i];
    const bool resident = plan.placement[i] == UnitPlacement::resident;
    j["units"].push_back({{"name", u.name},
                          {"state", resident ? "resident" : "streamed"},
                          {"dtype", dtype_name(resident ? u.resident_dtype : u.stream_dtype)},
                          {"bytes", resident ? u.resident_bytes : u.stream_bytes}});
  }
  j["resident_bytes"] = plan.resident_bytes;
  j["ring_bytes"] = plan.ring_bytes;
  j["workspace_bytes"] = plan.workspace_bytes;
  j["peak_device_bytes"] = plan.peak_device_bytes;
  j["vram_limit"] = plan.vram_limit ? nlohmann::json(*plan.vram_limit) : nlohmann::json(nullptr);
  j["over_limit_bytes"] = plan.over_limit_bytes;
  j["bytes_host_to_device_per_forward"] = plan.stream_bytes_per_forward;
  j["bytes_disk_to_host_per_forward"] = plan.disk_bytes_per_forward;
  return j;
}

}  // namespace

void add_plan_arguments(CLI::App& command, PlanArguments& args) {
  command.add_option("path", args.path, "a diffusers model folder, a component folder, a safetensors file or index")
      ->required();
  command.add_option("--component", args.components, "plan only these components of a model folder");
  add_vram_arguments(command, args.vram);
  command.add_option("--workspace", args.workspace_gib, "GiB of activations to reserve (default 0)")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--bandwidth", args.h2d_gbps, "host->device GB/s, to predict transfer seconds")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--disk-bandwidth", args.disk_gbps, "disk GB/s, to predict transfer seconds")
      ->check(CLI::NonNegativeNumber);
  command.add_flag("--summary", args.summary, "totals only, no per-unit rows");
  command.add_flag("--json", args.json, "one JSON document");
}

void run_plan(const PlanArguments& args, std::ostream& out) {
  // The device, the preset and the limit are checked before any file is opened; each component's
  // VramConfig (a --vram-config file may hold one per component) below.
  parse_run_device(args.vram.device);
  VramConfig::preset(args.vram.offload);
  std::optional<ModelFolder> folder;
  std::optional<WeightFiles> single;
  std::vector<Component> components;
  if (ModelFolder::is_model_folder(args.path)) {
    folder = ModelFolder::open(args.path);
    for (const auto& name : args.components) folder->component(name);  // unknown names are errors
    for (const auto& c : folder->components()) {
      const bool wanted = args.components.empty() ||
                          std::find(args.components.begin(), args.components.end(), c.name) != args.components.end();
      if (wanted && c.weights) components.push_back({c.name, &*c.weights});
    }
  } else {
    if (!args.components.empty()) throw ArgumentError("--component needs a model folder; " + args.path + " is not one");
    single = WeightFiles::open(std::filesystem::path(args.path));
    components.push_back({"model", &*single});
  }
  const auto workspace = static_cast<std::uint64_t>(args.workspace_gib * 1024 * 1024 * 1024);
  nlohmann::ordered_json all = nlohmann::json::array();
  for (const auto& c : components) {
    const VramSettings settings = resolve_vram_arguments(args.vram, single ? "" : c.name);
    const ResolvedVramConfig config = settings.config.resolve();
    const LayoutPolicy policy{config, settings.manager.fp8_scaling, {}};
    std::vector<UnitLayout> layouts;
    for (const auto& spec : leaf_module_units(*c.weights)) layouts.push_back(make_unit_layout(spec, *c.weights, policy));
    const Plan plan = plan_residency(
        make_plan_request(layouts, config, settings.manager.vram_limit, workspace, settings.manager.ring_slots));
    if (args.json) {
      all.push_back(plan_json(c.name, plan));
      continue;
    }
    out << "== " << c.name << ": " << layouts.size() << " units, " << config.str() << "\n";
    out << (args.summary ? plan.totals(args.h2d_gbps, args.disk_gbps) : plan.table(args.h2d_gbps, args.disk_gbps))
        << "\n";
  }
  if (args.json) out << all.dump(2) << "\n";
}

}  // namespace vramkit::cli
