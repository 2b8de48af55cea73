#include "cli/plan.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/human_bytes.h"
#include "io/model_folder.h"
#include "vram/planner.h"
#include "vram/unit_layout.h"
#include "vramkit/error.h"
#include "vramkit/pipeline.h"

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

nlohmann::ordered_json model_plan_json(const ModelPlan& m) {
  return {{"model", m.model},
          {"stage", m.stage},
          {"config", m.config},
          {"passes", m.passes},
          {"units", m.units},
          {"resident_units", m.resident_units},
          {"resident_bytes", m.resident_bytes},
          {"ring_bytes", m.ring_bytes},
          {"workspace_bytes", m.workspace_bytes},
          {"peak_device_bytes", m.peak_device_bytes},
          {"over_limit_bytes", m.over_limit_bytes},
          {"bytes_host_to_device_per_pass", m.bytes_host_to_device_per_pass},
          {"bytes_disk_to_host_per_pass", m.bytes_disk_to_host_per_pass},
          {"note", m.note}};
}

// A Qwen-Image generation, model by model, as `generate` would run it.
void plan_generation(const PlanArguments& args, std::ostream& out) {
  const PipelineConfig config = pipeline_config(args.model, args.vram);
  const GenerateOptions& options = args.options;
  PlanOptions plan_options;
  plan_options.h2d_gbps = args.h2d_gbps;
  plan_options.disk_gbps = args.disk_gbps;
  if (args.text_tokens > 0 || options.prompt.empty())
    plan_options.text_tokens = args.text_tokens > 0 ? args.text_tokens : options.max_sequence_length;
  Pipeline pipeline = Pipeline::for_planning(config);
  const GenerationPlan plan = pipeline.plan(options, plan_options);

  const bool cfg = options.cfg > 1.0f;
  if (args.json) {
    nlohmann::ordered_json j;
    j["width"] = options.width;
    j["height"] = options.height;
    j["steps"] = options.steps;
    j["batch"] = cfg ? 2 : 1;
    j["vram_limit"] = plan.vram_limit ? nlohmann::json(*plan.vram_limit) : nlohmann::json(nullptr);
    j["models"] = nlohmann::json::array();
    for (const ModelPlan& m : plan.models) j["models"].push_back(model_plan_json(m));
    j["peak_device_bytes"] = plan.peak_device_bytes();
    j["bytes_host_to_device"] = plan.bytes_host_to_device();
    j["bytes_disk_to_host"] = plan.bytes_disk_to_host();
    out << j.dump(2) << "\n";
    return;
  }
  out << "Qwen-Image generation: " << options.width << "x" << options.height << ", " << options.steps << " steps, "
      << (cfg ? "true CFG (batch 2)" : "no CFG (batch 1)") << ", text "
      << (plan_options.text_tokens ? std::to_string(*plan_options.text_tokens) + " tokens" : "of --prompt")
      << "; VRAM limit " << (plan.vram_limit ? human_bytes(*plan.vram_limit) : std::string("none")) << "\n\n";
  for (const ModelPlan& m : plan.models) {
    out << "== " << m.model << " (" << m.stage << ", " << m.passes << (m.passes == 1 ? " pass" : " passes")
        << "): " << m.units << " units, " << m.config << "\n";
    out << (args.summary ? m.totals : m.table);
    if (!m.note.empty()) out << m.note << "\n";
    out << "\n";
  }
  out << "== generation: peak device memory " << human_bytes(plan.peak_device_bytes())
      << " (one model on the device at a time); host -> device " << human_bytes(plan.bytes_host_to_device())
      << ", disk -> host " << human_bytes(plan.bytes_disk_to_host()) << " per image";
  const auto seconds = [](std::uint64_t bytes, double gbps) { return static_cast<double>(bytes) / (gbps * 1e9); };
  if (args.h2d_gbps > 0 || args.disk_gbps > 0) {
    const double t = std::max(args.h2d_gbps > 0 ? seconds(plan.bytes_host_to_device(), args.h2d_gbps) : 0.0,
                              args.disk_gbps > 0 ? seconds(plan.bytes_disk_to_host(), args.disk_gbps) : 0.0);
    char seconds_text[32];
    std::snprintf(seconds_text, sizeof seconds_text, "%.2f", t);
    out << "; at least " << seconds_text << " s of transfers";
  }
  out << "\n";
}

}  // namespace

void add_plan_arguments(CLI::App& command, PlanArguments& args) {
  CLI::Option* path = command.add_option(
      "path", args.path, "any model folder, component folder, safetensors file or index, one unit per leaf module");
  CLI::Option* model = command.add_option(
      "--model", args.model, "a Qwen-Image folder (or builtin:tiny), planned as `vramkit generate` runs it");
  path->excludes(model);
  command.add_option("--width,-W", args.options.width, "with --model: image width")->capture_default_str();
  command.add_option("--height,-H", args.options.height, "with --model: image height")->capture_default_str();
  command.add_option("--steps", args.options.steps, "with --model: denoising steps")->capture_default_str();
  command.add_option("--cfg", args.options.cfg, "with --model: true CFG scale (> 1: both branches, batch 2)")
      ->capture_default_str();
  command.add_option("--prompt,-p", args.options.prompt, "with --model: plan for this prompt's length");
  command.add_option("--text-tokens", args.text_tokens,
                     "with --model: plan for prompts of this many tokens (default: --max-sequence-length)");
  command.add_option("--max-sequence-length", args.options.max_sequence_length, "with --model: prompt tokens kept")
      ->capture_default_str();
  command.add_option("--vae-tiling", args.options.vae_tiling, "with --model: auto, always or never")->capture_default_str();
  command.add_option("--component", args.components, "with PATH: plan only these components of a model folder");
  add_vram_arguments(command, args.vram);
  command.add_option("--workspace", args.workspace_gib, "with PATH: GiB of activations to reserve (default 0)")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--bandwidth", args.h2d_gbps, "host->device GB/s, to predict transfer seconds")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--disk-bandwidth", args.disk_gbps, "disk GB/s, to predict transfer seconds")
      ->check(CLI::NonNegativeNumber);
  command.add_flag("--summary", args.summary, "totals only, no per-unit rows");
  command.add_flag("--json", args.json, "one JSON document");
}

void run_plan(const PlanArguments& args, std::ostream& out) {
  if (!args.model.empty()) return plan_generation(args, out);
  if (args.path.empty()) throw ArgumentError("plan: give a model with --model DIR, or a PATH to plan unit by unit");
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
    // The disk tier's read plans depend on the files' direct-I/O alignment: the files are opened as a run would.
    std::unique_ptr<DiskSource> disk;
    if (config.onload.device.kind == Placement::Kind::disk)
      disk = std::make_unique<DiskSource>(*c.weights, settings.manager.direct_io);
    LayoutPolicy policy;
    policy.config = config;
    policy.scaling = settings.manager.fp8_scaling;
    policy.disk = disk.get();
    policy.native_fp8_gemm = settings.manager.native_fp8_gemm;
    std::vector<UnitLayout> layouts;
    for (const auto& spec : leaf_module_units(*c.weights)) layouts.push_back(make_unit_layout(spec, *c.weights, policy));
    const Plan plan = plan_residency(
        make_plan_request(layouts, config, settings.manager.vram_limit, workspace, settings.manager.ring_slots,
                          settings.manager.lookahead_bytes));
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
