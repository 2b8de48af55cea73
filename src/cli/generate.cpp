#include "cli/generate.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>

#include "core/human_bytes.h"
#include "vramkit/error.h"

namespace vramkit::cli {
namespace {

std::string fixed(double v, int decimals) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", decimals, v);
  return text;
}

// One line per stage, redrawn in place on a terminal ("denoise  [#####.....] 12/30  1.85 s/it  ETA 33 s
// 4.1 GB streamed  peak 3.2 GiB"); elsewhere (a log file) only the line of each finished stage.
class ProgressBar {
 public:
  explicit ProgressBar(std::ostream& err) : err_(err), terminal_(isatty(STDERR_FILENO) != 0) {}

  void update(const Progress& p) {
    if (!terminal_ && p.step < p.total) return;
    if (p.stage != stage_) {
      if (!stage_.empty()) err_ << "\n";
      stage_ = p.stage;
    }
    constexpr int kWidth = 24;
    const int filled = p.total > 0 ? kWidth * p.step / p.total : 0;
    std::string line = "\r" + p.stage + std::string(p.stage.size() < 12 ? 12 - p.stage.size() : 1, ' ') + "[" +
                       std::string(static_cast<std::size_t>(filled), '#') +
                       std::string(static_cast<std::size_t>(kWidth - filled), '.') + "] " + std::to_string(p.step) +
                       "/" + std::to_string(p.total);
    if (p.step > 0) {
      const double per_step = p.stage_seconds / p.step;
      line += "  " + fixed(per_step, 2) + " s/it  ETA " + fixed(per_step * (p.total - p.step), 0) + " s";
    }
    line += "  " + fixed(static_cast<double>(p.bytes_host_to_device) / 1e9, 2) + " GB streamed  peak " +
            human_bytes(p.peak_device_bytes);
    if (!terminal_) line.erase(0, 1);  // no carriage return: each line stays
    err_ << line << "   " << std::flush;
  }
  void finish() {
    if (!stage_.empty()) err_ << "\n";
  }

 private:
  std::ostream& err_;
  bool terminal_;
  std::string stage_;
};

}  // namespace

void add_generate_arguments(CLI::App& command, GenerateArguments& a) {
  command.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a later --steps wins
  command.add_option("--model", a.model, "Qwen-Image model folder (diffusers layout) or builtin:tiny")
      ->required();
  command.add_option("--prompt,-p", a.options.prompt, "the prompt")->required();
  command.add_option("--negative-prompt,-n", a.negative_prompt, "the negative prompt (CFG runs when cfg > 1)")
      ->capture_default_str();
  command.add_flag("--no-negative-prompt", a.no_negative, "no negative prompt: no CFG, one branch per step");
  command.add_option("--width,-W", a.options.width, "image width, a multiple of 16")->capture_default_str();
  command.add_option("--height,-H", a.options.height, "image height, a multiple of 16")->capture_default_str();
  command.add_option("--steps", a.options.steps, "denoising steps")->capture_default_str();
  command.add_option("--cfg", a.options.cfg, "true CFG scale")->capture_default_str();
  command.add_option("--cfg-renorm", a.cfg_renorm, "on: rescale to the conditional norm (the reference); off: "
                                                   "plain CFG (DiffSynth-Studio)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  command.add_option("--seed,-s", a.options.seed, "seed of the initial noise")->capture_default_str();
  command.add_option("--latents", a.options.latents, "safetensors with `latents` [1, (H/16)(W/16), 64] f32: "
                                                     "start from this noise instead of the seed's");
  command.add_option("--max-sequence-length", a.options.max_sequence_length, "prompt tokens kept (at most 1024)")
      ->capture_default_str();
  command.add_option("--vae-tiling", a.options.vae_tiling,
                     "decode in tiles: auto (when one pass would not fit the budget), always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  command.add_option("--out,-o", a.out, "the PNG to write")->capture_default_str();
  add_vram_arguments(command, a.vram);
  add_report_arguments(command, a.report);
  command.add_flag("--quiet,-q", a.quiet, "no progress bar and no summary");
}

void run_generate(GenerateArguments a, std::ostream& err) {
  a.options.negative_prompt = a.no_negative ? std::nullopt : std::optional<std::string>(a.negative_prompt);
  a.options.cfg_renorm = a.cfg_renorm == "on";
  PipelineConfig config = pipeline_config(a.model, a.vram);
  config.trace = !a.report.trace.empty();
  if (std::filesystem::path(a.out).extension() != ".png")
    throw ArgumentError("--out " + a.out + ": the output must be a .png file");
  Pipeline pipeline(config);
  ProgressBar bar(err);
  Image image;
  try {
    image = pipeline.generate(a.options, [&](const Progress& p) {
      if (!a.quiet) bar.update(p);
    });
  } catch (...) {
    if (!a.quiet) bar.finish();  // the error goes on a line of its own
    throw;
  }
  if (!a.quiet) bar.finish();
  write_png(a.out, image, generation_parameters_text(a.options, a.model));

  const GenerateStats& s = pipeline.last_stats();
  if (!a.report.stats.empty()) {
    std::ofstream out(a.report.stats);
    out << s.telemetry_json << "\n";
    if (!out) throw IoError("--stats: cannot write " + a.report.stats);
  }
  if (!a.report.trace.empty()) pipeline.write_trace(a.report.trace);
  if (a.quiet) return;
  err << "wrote " << a.out << " (" << image.width << "x" << image.height << ") in " << fixed(s.seconds, 2) << " s:";
  for (const StageTime& t : s.stages) err << " " << t.stage << " " << fixed(t.seconds, 2) << " s,";
  const double gb = static_cast<double>(s.bytes_host_to_device) / 1e9;
  err << " peak VRAM " << human_bytes(s.peak_device_bytes) << " (at most "
      << human_bytes(s.peak_resident_bytes) << " resident weights, " << human_bytes(s.peak_staging_bytes)
      << " staging, " << human_bytes(s.peak_activation_bytes) << " activations), " << fixed(gb, 2)
      << " GB host->device (" << fixed(s.seconds > 0 ? gb / s.seconds : 0, 2) << " GB/s), "
      << fixed(static_cast<double>(s.bytes_disk_to_host) / 1e9, 2) << " GB disk->host, waited "
      << fixed(s.copy_wait_seconds, 2) << " s for copies\n";
}

}  // namespace vramkit::cli
