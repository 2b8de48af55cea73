#include "cli/forward.h"

#include <CLI/CLI.hpp>
#include <chrono>

#include "cli/forward_components.h"
#include "io/safetensors.h"
#include "vram/manager.h"
#include "vramkit/error.h"

namespace vramkit::cli {

Tensor forward_input(const WeightFiles& inputs, const std::string& name, bool required) {
  if (!inputs.contains(name)) {
    if (!required) return Tensor();
    std::string file = inputs.files().empty() ? std::string("--inputs") : inputs.files().front()->path().string();
    throw ArgumentError(file + ": no input tensor named '" + name + "'");
  }
  return inputs.view(name).clone();
}

ForwardCommand::ForwardCommand(CLI::App& app) : components_(forward_components()) {
  command_ = app.add_subcommand("forward", "run one model component on tensors from a safetensors file");
  command_->require_subcommand(1);
  for (const auto& component : components_) {
    CLI::App* sub = command_->add_subcommand(component->name(), component->description());
    sub->add_option("--model", args_.model, "the model folder, or the component's own folder")->required();
    sub->add_option("--inputs", args_.inputs, "safetensors file with the named input tensors")->required();
    sub->add_option("--out", args_.out, "safetensors file to write the outputs to (float32)")->required();
    add_vram_arguments(*sub, args_.vram);
    add_report_arguments(*sub, args_.report);
    component->add_arguments(*sub);
    subcommands_.push_back(sub);
  }
}

ForwardCommand::~ForwardCommand() = default;

bool ForwardCommand::parsed() const { return command_->parsed(); }

void ForwardCommand::run(std::ostream& err) {
  for (std::size_t i = 0; i < components_.size(); ++i) {
    if (!subcommands_[i]->parsed()) continue;
    const auto start = std::chrono::steady_clock::now();
    VramSettings settings = resolve_vram_arguments(args_.vram, components_[i]->vram_component());
    apply_report_arguments(args_.report, settings.manager);
    VramManager manager(make_accelerator(settings.device), settings.manager);
    const WeightFiles inputs = WeightFiles::open(std::filesystem::path(args_.inputs));
    NamedTensors outputs = components_[i]->run(manager, args_.model, settings.config, inputs);
    for (auto& [name, tensor] : outputs) tensor = tensor.to(DType::f32);
    write_safetensors(args_.out, outputs, {{"component", components_[i]->name()}});
    write_report(args_.report, manager,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), err);
  }
}

}  // namespace vramkit::cli
