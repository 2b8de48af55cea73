// The text-to-image pipeline of Qwen-Image, the C++ form of DiffSynth-Studio's
//   QwenImagePipeline.from_pretrained(model_configs=[ModelConfig(...)], vram_limit=...)(prompt, ...):
// a pipeline object made once from where the weights are and how the VRAM is to be managed, then called with
// a prompt and options; it returns an image.
//
// Stages: the prompts through the text encoder, the transformer for every denoising step (both CFG branches
// as one batch, the timestep modulation of all steps computed up front), the VAE decoder. Each model is
// onloaded for its stage and offloaded after, so the peak VRAM is the largest stage's, not the sum.
//
// Errors are exceptions derived from vramkit::Error (vramkit/error.h), each naming the file, argument or
// component at fault.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vramkit/image.h"

namespace vramkit {

// How the weights are placed: the same settings as the CLI's VRAM options (vramkit --help).
struct PipelineConfig {
  // A Qwen-Image folder in the diffusers layout (model_index.json, tokenizer/, text_encoder/, transformer/,
  // vae/, scheduler/), or "builtin:tiny": a small random-weight model of the same architecture made on the fly.
  std::filesystem::path model;
  // Other folders for single components ("text_encoder", "transformer", "vae", "tokenizer", "scheduler"),
  // as DiffSynth-Studio's per-component ModelConfig; the rest come from `model`.
  std::map<std::string, std::filesystem::path> component_paths;
  std::string device = "cuda";     // cpu | cuda | cuda:N | emu | emu:GiB (the emulated accelerator)
  std::string offload = "none";    // none | cpu | fp8 | dynamic | disk, for every component
  std::string storage_dtype;       // "" (the preset's), bf16 or fp8
  std::string vram_limit;          // "" (no limit; auto for dynamic and disk), "auto", or GiB as text ("6")
  std::filesystem::path vram_config;  // JSON: the eight keys, for all components or per component name
  int ring_slots = 2;                 // streamed units a model may hold at once
  std::string units = "leaf";         // leaf | block: a managed unit per leaf module or per transformer block
  double lookahead_mib = 0;           // the staging ring's MiB (0 = the minimum for ring_slots)
  std::string direct_io = "auto";     // auto | on | off: O_DIRECT reads of disk-streamed weights
  bool native_fp8_gemm = false;       // fp8-stored GEMM weights multiply natively in fp8 (docs/vram.md)
  bool trace = false;                 // record a Chrome trace (write_trace)
};

struct GenerateOptions {
  std::string prompt;
  // CFG runs when cfg > 1 and a negative prompt is given (" " is the reference's recommended default).
  std::optional<std::string> negative_prompt = std::string(" ");
  int width = 1328;    // multiples of 16
  int height = 1328;
  int steps = 30;
  float cfg = 4.0f;
  bool cfg_renorm = true;  // rescale to the conditional prediction's norm (the reference); off = plain CFG
  std::uint64_t seed = 0;
  // Optional starting noise: a safetensors file with `latents` [1, (H/16)(W/16), 64] float32 (packed), to
  // reproduce a run of another tool; replaces the seeded noise.
  std::filesystem::path latents;
  int max_sequence_length = 512;  // prompt tokens kept after the template (at most 1024)
  // VAE decoding in overlapping tiles: "auto" (when the one-pass decode would not fit the VRAM budget),
  // "always" or "never". Tiles differ slightly from one pass near their borders (docs/vram.md).
  std::string vae_tiling = "auto";
};

// Reported to the progress callback: once at the start of each stage and after each unit of work in it.
struct Progress {
  std::string stage;  // "text encoder", "denoise", "vae decode"
  int step = 0;       // done so far
  int total = 0;
  double stage_seconds = 0;  // since the stage began
  std::uint64_t bytes_host_to_device = 0;  // since the generation began
  std::uint64_t bytes_disk_to_host = 0;
  std::uint64_t peak_device_bytes = 0;
};

struct StageTime {
  std::string stage;
  double seconds = 0;
};

struct GenerateStats {
  std::vector<StageTime> stages;
  double seconds = 0;
  std::uint64_t peak_device_bytes = 0;
  // The peak of each kind of device memory over the generation, each reached at its own moment: resident
  // weights, the staging rings of streamed weights, and everything else (activations, op scratch).
  std::uint64_t peak_resident_bytes = 0;
  std::uint64_t peak_staging_bytes = 0;
  std::uint64_t peak_activation_bytes = 0;
  std::uint64_t bytes_host_to_device = 0;
  std::uint64_t bytes_disk_to_host = 0;
  double copy_wait_seconds = 0;
  std::string telemetry_json;  // the VRAM manager's telemetry after the run
};

// What the VRAM manager will do with one model in a generation (Pipeline::plan).
struct ModelPlan {
  std::string model;  // "text_encoder", "transformer.modulation", "transformer", "vae_decoder"
  std::string stage;  // "text encoder", "denoise", "vae decode"
  std::string config;  // where its weights live in each state, and in which dtype (the resolved VramConfig)
  int passes = 1;     // forwards per generation (the denoising steps; the VAE's tiles)
  std::size_t units = 0;
  std::size_t resident_units = 0;
  std::uint64_t resident_bytes = 0;   // weights kept in VRAM
  std::uint64_t ring_bytes = 0;       // staging buffers of the streamed weights
  std::uint64_t workspace_bytes = 0;  // activations reserved for the pass
  std::uint64_t peak_device_bytes = 0;  // resident + ring + workspace
  std::uint64_t over_limit_bytes = 0;   // > 0: even streaming everything does not fit the limit
  std::uint64_t bytes_host_to_device_per_pass = 0;
  std::uint64_t bytes_disk_to_host_per_pass = 0;
  std::string note;    // how the pass runs when it has choices (the VAE: one pass or tiles)
  std::string table;   // one row per unit (state, dtype, bytes), then the totals
  std::string totals;  // the totals alone
};

struct GenerationPlan {
  std::optional<std::uint64_t> vram_limit;  // bytes; unset = no limit
  std::vector<ModelPlan> models;            // in the order they run; each alone on the device
  // Models are onloaded one at a time, so the peak is the largest model's.
  std::uint64_t peak_device_bytes() const;
  std::uint64_t bytes_host_to_device() const;  // per generation: Σ passes × bytes per pass
  std::uint64_t bytes_disk_to_host() const;
};

struct PlanOptions {
  // Plan for prompts of this many tokens (after the template; the longest the transformer sees is
  // GenerateOptions::max_sequence_length) instead of tokenizing the options' prompts.
  std::optional<int> text_tokens;
  double h2d_gbps = 0;   // host -> device GB/s, to predict transfer seconds in the tables (0: not shown)
  double disk_gbps = 0;  // disk GB/s, likewise
};

// One Qwen-Image pipeline: its models share one VRAM manager and one budget on one device. Calls on a
// pipeline are not concurrent (generate, plan and last_stats share its models): serve several threads by
// taking turns. One pipeline per device at a time: its device arena takes the GPU's free memory but 0.5 GiB
// when it is made (backed as the run needs it), and the ops find a device's one accelerator by its name.
class Pipeline {
 public:
  // Opens and validates every component (config files, key sets and shapes) and the tokenizer; loads nothing.
  explicit Pipeline(const PipelineConfig& config);
  // The same, for plan() only: the device is never touched (a machine without the GPU can plan for it, given a
  // numeric vram_limit); generate() throws ArgumentError.
  static Pipeline for_planning(const PipelineConfig& config);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // ArgumentError for sizes that are not positive multiples of 16, steps < 1, cfg < 0 or an unusable latents
  // file, before any model runs. A generation that fails later leaves every model offloaded, so the pipeline
  // can run again; OutOfMemory then names the stage ("text encoder", "denoise", "vae decode") and what to
  // change (a streaming preset, a VRAM limit, disk offload for the host). `progress` may throw to cancel:
  // its exception comes out of generate(), after the same clean-up.
  Image generate(const GenerateOptions& options, const std::function<void(const Progress&)>& progress = {});
  const GenerateStats& last_stats() const;
  // What generate(options) would keep resident, stream and reserve, per model, without running anything.
  // Errors as generate()'s argument checks.
  GenerationPlan plan(const GenerateOptions& options, const PlanOptions& plan_options = {});
  // The Chrome trace of the last runs (PipelineConfig::trace).
  void write_trace(const std::filesystem::path& path) const;

 private:
  Pipeline(const PipelineConfig& config, bool planning_only);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The generation parameters as PNG text chunks: "parameters" in the common "prompt / Negative prompt: ... /
// Steps: ..., CFG scale: ..." form, and "vramkit" as JSON.
PngText generation_parameters_text(const GenerateOptions& options, const std::string& model);

}  // namespace vramkit
