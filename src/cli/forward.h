// `vramkit forward COMPONENT --model DIR --inputs IN.safetensors --out OUT.safetensors [VRAM options]`: runs
// one model component on named input tensors and writes its named outputs as float32 safetensors, so anyone
// can check parity against another implementation. Components register in forward_components.cpp.
#pragma once

#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "cli/run_report.h"
#include "cli/vram_options.h"
#include "core/tensor.h"
#include "io/model_files.h"

namespace CLI {
class App;
}

namespace vramkit::cli {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// One runnable component: its own options and how named inputs become named outputs.
class ForwardComponent {
 public:
  virtual ~ForwardComponent() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // The pipeline component whose object of a per-component --vram-config file applies (the VAE's two halves
  // share "vae").
  virtual std::string vram_component() const { return name(); }
  virtual void add_arguments(CLI::App& command) { (void)command; }
  // `model` is what --model names: a model folder or the component's own folder.
  virtual NamedTensors run(VramManager& manager, const std::filesystem::path& model, const VramConfig& vram,
                           const WeightFiles& inputs) = 0;
};

// The input tensor `name` of the --inputs file, copied to host memory. ArgumentError naming the file and the
// tensor when it is absent (and `required`); an undefined Tensor when it is absent and optional.
Tensor forward_input(const WeightFiles& inputs, const std::string& name, bool required = true);

class ForwardCommand {
 public:
  // Adds `forward` with one sub-command per component to `app`.
  explicit ForwardCommand(CLI::App& app);
  ~ForwardCommand();
  bool parsed() const;
  void run(std::ostream& err);

 private:
  struct Arguments {
    std::string model, inputs, out;
    VramArguments vram;
    ReportArguments report;
  };
  CLI::App* command_;
  Arguments args_;
  std::vector<std::unique_ptr<ForwardComponent>> components_;
  std::vector<CLI::App*> subcommands_;
};

}  // namespace vramkit::cli
