// The Qwen-Image text-to-image pipeline (include/vramkit/pipeline.h), as diffusers' QwenImagePipeline.__call__
// runs it (spec §3, §4.4, §6.6, §7): prompts -> text encoder -> prompt embeddings; seeded noise -> packed
// latents; per step the transformer (both CFG branches as one padded batch), true CFG, an Euler step; unpack,
// denormalize, VAE decode, to 8-bit pixels.
//
// Beyond the reference: one VRAM manager for every component (one budget), each model onloaded for its stage
// and offloaded after it; the transformer's timestep modulation computed for all steps in one pass; the two
// CFG branches in one batch with a key padding mask. Every memory mode runs exactly this sequence of
// operations, so the image is the same in all of them whenever the dtypes are.
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/human_bytes.h"
#include "io/model_files.h"
#include "models/qwen_image/dit.h"
#include "models/qwen_image/guidance.h"
#include "models/qwen_image/prompt.h"
#include "models/qwen_image/prompt_embeds.h"
#include "models/qwen_image/scheduler.h"
#include "models/qwen_image/text_encoder.h"
#include "models/qwen_image/tiny_model.h"
#include "models/qwen_image/tokenizer.h"
#include "models/qwen_image/vae.h"
#include "ops/layout.h"
#include "pipeline/noise.h"
#include "pipeline/qwen_image_stages.h"
#include "vram/run_settings.h"
#include "vramkit/error.h"
#include "vramkit/pipeline.h"

namespace vramkit {

using namespace qwen_image;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// One value rounded to `dtype` (the reference's tensors round every result to their dtype).
float round_to(DType dtype, float v) {
  return Tensor::from_floats({1}, std::vector<float>{v}).to(dtype).to(DType::f32).to_floats()[0];
}

void check_options(const GenerateOptions& o) {
  const auto fail = [](const std::string& what) { throw ArgumentError(what); };
  if (o.width <= 0 || o.height <= 0 || o.width % 16 || o.height % 16)
    fail("width and height must be positive multiples of 16, got " + std::to_string(o.width) + "x" +
         std::to_string(o.height));
  if (o.steps < 1) fail("steps must be at least 1, got " + std::to_string(o.steps));
  if (!std::isfinite(o.cfg) || o.cfg < 0) fail("cfg must be a non-negative number, got " + std::to_string(o.cfg));
  if (o.max_sequence_length < 1 || o.max_sequence_length > 1024)
    fail("max_sequence_length must be in [1, 1024], got " + std::to_string(o.max_sequence_length));
  if (o.vae_tiling != "auto" && o.vae_tiling != "always" && o.vae_tiling != "never")
    fail("vae_tiling must be auto, always or never, got '" + o.vae_tiling + "'");
}

// input_ids [B, L] i64 right-padded with id 0 and the attention mask [B, L] i64.
std::pair<Tensor, Tensor> batch_ids(const std::vector<std::vector<std::int32_t>>& prompts) {
  std::size_t longest = 0;
  for (const auto& p : prompts) longest = std::max(longest, p.size());
  const auto b = static_cast<std::int64_t>(prompts.size()), l = static_cast<std::int64_t>(longest);
  Tensor ids = Tensor::zeros({b, l}, DType::i64), mask = Tensor::zeros({b, l}, DType::i64);
  auto* id = ids.data_as<std::int64_t>();
  auto* m = mask.data_as<std::int64_t>();
  for (std::size_t i = 0; i < prompts.size(); ++i)
    for (std::size_t j = 0; j < prompts[i].size(); ++j) {
      id[i * longest + j] = prompts[i][j];
      m[i * longest + j] = 1;
    }
  return {ids, mask};
}

// The starting latents [1, N, 64] f32: a given file's, or seeded noise [1, 16, h, w] packed.
Tensor initial_latents(const GenerateOptions& o) {
  const std::int64_t h = o.height / 8, w = o.width / 8, tokens = (h / 2) * (w / 2);
  if (o.latents.empty()) return ops::pack_latents(gaussian_noise({1, 16, h, w}, o.seed));
  const WeightFiles file = WeightFiles::open(o.latents);
  if (!file.contains("latents"))
    throw ArgumentError("--latents " + o.latents.string() + ": no tensor named 'latents'");
  Tensor latents = file.view("latents").to(DType::f32);
  if (latents.shape() != Shape{1, tokens, 64})
    throw ArgumentError("--latents " + o.latents.string() + ": latents is " + latents.str() + ", expected [1, " +
                        std::to_string(tokens) + ", 64] for " + std::to_string(o.width) + "x" +
                        std::to_string(o.height));
  return latents;
}

// VAE output [1, 3, 1, H, W] in [-1, 1] -> RGB8, as the reference's postprocess: (x / 2 + 0.5).clamp(0, 1),
// then round(· 255).
Image to_image(const Tensor& decoded) {
  const std::int64_t height = decoded.size(3), width = decoded.size(4);
  const std::vector<float> x = decoded.to_floats();
  Image image{static_cast<int>(width), static_cast<int>(height), 3, {}};
  image.pixels.resize(static_cast<std::size_t>(height * width * 3));
  const auto plane = static_cast<std::size_t>(height * width);
  for (std::size_t c = 0; c < 3; ++c)
    for (std::size_t p = 0; p < plane; ++p) {
      const float v = std::clamp(x[c * plane + p] / 2.0f + 0.5f, 0.0f, 1.0f);
      image.pixels[p * 3 + c] = static_cast<std::uint8_t>(std::nearbyint(v * 255.0f));
    }
  return image;
}

}  // namespace

struct Pipeline::Impl {
  PipelineConfig config;
  bool planning_only = false;
  std::filesystem::path model;  // the folder (for builtin:tiny, the temporary one)
  std::unique_ptr<TinyModelFolder> tiny;
  std::unique_ptr<VramManager> manager;
  std::unique_ptr<Qwen2Tokenizer> tokenizer;
  FlowMatchSchedulerConfig scheduler;
  std::unique_ptr<QwenImageTextEncoder> text_encoder;
  std::unique_ptr<QwenImageDit> transformer;
  std::unique_ptr<QwenImageVaeDecoder> vae;
  GenerateStats stats;

  std::filesystem::path path_of(const std::string& component) const {
    const auto it = config.component_paths.find(component);
    return it != config.component_paths.end() ? it->second : model / component;
  }

  Progress progress(const std::string& stage, int step, int total, Clock::time_point start) const {
    const TelemetrySnapshot t = manager->snapshot();
    return {stage, step, total, seconds_since(start), t.bytes_host_to_device, t.bytes_disk_to_host,
            t.peak_device_bytes};
  }

  // The generation's stages; `stage` names the one running, for the errors.
  Image generate(const GenerateOptions& o, const std::function<void(const Progress&)>& report,
                 std::string& stage);

  // After a failed generation: every model offloaded (what failed first is what gets reported), so that the
  // pipeline can run again.
  void offload_all() noexcept {
    const auto quietly = [](auto&& offload) {
      try {
        offload();
      } catch (...) {
      }
    };
    quietly([&] { text_encoder->offload(); });
    quietly([&] { transformer->offload(); });
    quietly([&] { vae->offload(); });
  }

  // What the device held and what to change, when `e` stopped the stage `stage` with `held` (the telemetry
  // at the failure) on the device.
  std::string out_of_memory_hint(const OutOfMemory& e, const std::string& stage,
                                 const TelemetrySnapshot& held) const {
    if (e.device().rfind("cpu", 0) == 0)
      return "the host's memory ran out: --offload disk reads each weight from its file when it runs, "
             "instead of holding host copies";
    const std::uint64_t weights = held.resident_bytes + held.staging_bytes;
    const std::uint64_t total = manager->accelerator().memory_info().total_bytes;
    const std::string what =
        "weights held " + human_bytes(weights) + " of the device's " + human_bytes(total);
    if (2 * weights < total)
      return what + ", so the activations of this image size do not fit: a smaller image needs less" +
             (stage == "vae decode" ? std::string(", and --vae-tiling always decodes in tiles")
                                    : std::string());
    const bool whole_stage = config.vram_config.empty() &&
                             (config.offload == "none" || config.offload == "cpu" || config.offload == "fp8");
    if (whole_stage)
      return what + ": the --offload " + config.offload +
             " preset holds each stage's weights on the device; --offload dynamic (or disk) streams what " +
             "does not fit under --vram-limit (GiB, or auto: the free VRAM less 0.5 GiB)";
    return what + ": a lower --vram-limit (GiB, or auto: the free VRAM less 0.5 GiB) streams more of them";
  }
};

Pipeline::Pipeline(const PipelineConfig& config) : Pipeline(config, false) {}

Pipeline Pipeline::for_planning(const PipelineConfig& config) { return Pipeline(config, true); }

Pipeline::Pipeline(const PipelineConfig& config, bool planning_only) : impl_(std::make_unique<Impl>()) {
  Impl& p = *impl_;
  p.config = config;
  p.planning_only = planning_only;
  if (config.model == "builtin:tiny") {
    p.tiny = std::make_unique<TinyModelFolder>();
    p.model = p.tiny->path();
  } else {
    p.model = config.model;
    if (!std::filesystem::is_directory(p.model))
      throw ArgumentError("--model " + p.model.string() + " is not a folder (a Qwen-Image model folder in the "
                          "diffusers layout, or builtin:tiny)");
  }
  for (const auto& [name, path] : config.component_paths)
    if (name != "text_encoder" && name != "transformer" && name != "vae" && name != "tokenizer" &&
        name != "scheduler")
      throw ArgumentError("unknown component '" + name + "' (text_encoder, transformer, vae, tokenizer, scheduler)");
  for (const char* component : {"tokenizer", "text_encoder", "transformer", "vae", "scheduler"})
    if (!std::filesystem::is_directory(p.path_of(component)))
      throw ArgumentError("model " + p.model.string() + ": the " + component + " folder " +
                          p.path_of(component).string() + " is missing");

  const VramArguments args{.device = config.device,
                           .offload = config.offload,
                           .storage_dtype = config.storage_dtype,
                           .vram_limit = config.vram_limit,
                           .vram_config = config.vram_config.string(),
                           .ring_slots = config.ring_slots,
                           .units = config.units,
                           .lookahead_mib = config.lookahead_mib,
                           .direct_io = config.direct_io,
                           .native_fp8_gemm = config.native_fp8_gemm};
  const VramSettings settings = resolve_vram_arguments(args, "transformer");
  ManagerOptions manager_options = settings.manager;
  manager_options.trace = config.trace;
  manager_options.plan_device_kernels = planning_only && settings.device.device.kind == DeviceKind::cuda;
  // Planning never allocates: the host-emulated device (sized to the host's RAM, nothing reserved) stands in.
  p.manager = std::make_unique<VramManager>(
      make_accelerator(planning_only ? parse_run_device("cpu") : settings.device), manager_options);

  p.tokenizer = std::make_unique<Qwen2Tokenizer>(Qwen2Tokenizer::from_directory(p.path_of("tokenizer")));
  p.scheduler = FlowMatchSchedulerConfig::from_json_file(p.path_of("scheduler") / "scheduler_config.json");
  p.text_encoder = QwenImageTextEncoder::open(*p.manager, p.path_of("text_encoder"),
                                              resolve_vram_arguments(args, "text_encoder").config);
  p.transformer = QwenImageDit::open(*p.manager, p.path_of("transformer"), settings.config);
  p.vae = QwenImageVaeDecoder::open(*p.manager, p.path_of("vae"), resolve_vram_arguments(args, "vae").config);
}

Pipeline::~Pipeline() = default;

const GenerateStats& Pipeline::last_stats() const { return impl_->stats; }

void Pipeline::write_trace(const std::filesystem::path& path) const {
  TraceRecorder* trace = impl_->manager->trace();
  if (!trace) throw ArgumentError("write_trace: the pipeline was made without PipelineConfig::trace");
  impl_->manager->h2d_stream().synchronize();
  impl_->manager->accelerator().compute_stream().synchronize();
  trace->write(path);
}

GenerationPlan Pipeline::plan(const GenerateOptions& o, const PlanOptions& plan_options) {
  check_options(o);
  Impl& p = *impl_;
  const bool cfg = o.cfg > 1.0f && o.negative_prompt.has_value();
  std::vector<std::size_t> lengths;
  if (plan_options.text_tokens) {
    if (*plan_options.text_tokens < 1 || *plan_options.text_tokens > static_cast<int>(kQwenImageMaxPromptTokens))
      throw ArgumentError("text_tokens must be in [1, " + std::to_string(kQwenImageMaxPromptTokens) + "], got " +
                          std::to_string(*plan_options.text_tokens));
    lengths.assign(cfg ? 2 : 1, static_cast<std::size_t>(*plan_options.text_tokens) + kQwenImagePromptDropTokens);
  } else {
    lengths.push_back(qwen_image_prompt_ids(*p.tokenizer, o.prompt).size());
    if (cfg) lengths.push_back(qwen_image_prompt_ids(*p.tokenizer, *o.negative_prompt).size());
  }
  const GenerationSizes sizes = generation_sizes(o, lengths);
  prepare_for_generation(*p.text_encoder, *p.transformer, sizes);
  return plan_generation(*p.text_encoder, *p.transformer, *p.vae, sizes, o, plan_options);
}

Image Pipeline::generate(const GenerateOptions& o, const std::function<void(const Progress&)>& progress) {
  check_options(o);
  Impl& p = *impl_;
  if (p.planning_only) throw ArgumentError("this pipeline was made for planning only (Pipeline::for_planning)");
  const auto report = [&](const Progress& status) {
    if (progress) progress(status);
  };
  std::string stage = "text encoder";
  try {
    return p.generate(o, report, stage);
  } catch (const OutOfMemory& e) {
    const TelemetrySnapshot held = p.manager->snapshot();
    p.offload_all();
    throw OutOfMemory(e, stage, p.out_of_memory_hint(e, stage, held));
  } catch (...) {
    p.offload_all();
    throw;
  }
}

Image Pipeline::Impl::generate(const GenerateOptions& o, const std::function<void(const Progress&)>& report,
                               std::string& stage_name) {
  Impl& p = *this;
  const bool cfg = o.cfg > 1.0f && o.negative_prompt.has_value();
  Tensor latents = initial_latents(o);  // validates --latents before any model runs
  p.stats = {};
  p.manager->reset_telemetry();
  const auto begin = Clock::now();

  // Text encoder: the positive (and negative) prompt as one batch.
  auto stage = Clock::now();
  report(p.progress("text encoder", 0, 1, stage));
  std::vector<std::vector<std::int32_t>> prompts{qwen_image_prompt_ids(*p.tokenizer, o.prompt)};
  if (cfg) prompts.push_back(qwen_image_prompt_ids(*p.tokenizer, *o.negative_prompt));
  const auto [ids, mask] = batch_ids(prompts);
  std::vector<std::size_t> lengths;
  for (const auto& ids_of_prompt : prompts) lengths.push_back(ids_of_prompt.size());
  const GenerationSizes sizes = generation_sizes(o, lengths);
  prepare_for_generation(*p.text_encoder, *p.transformer, sizes);
  p.text_encoder->onload();
  const PromptEmbeds text = qwen_image_prompt_embeds(p.text_encoder->forward(ids, mask), mask, o.max_sequence_length);
  p.text_encoder->offload();
  report(p.progress("text encoder", 1, 1, stage));
  p.stats.stages.push_back({"text encoder", seconds_since(stage)});

  // Denoising.
  stage_name = "denoise";
  stage = Clock::now();
  const std::int64_t grid_h = o.height / 16, grid_w = o.width / 16;
  const DType dtype = p.transformer->computation_dtype();
  latents = latents.to(dtype);
  const std::vector<float> sigmas = flow_match_sigmas(p.scheduler, o.steps, grid_h * grid_w);
  // The transformer's timestep input as the reference computes it: (1000·sigma rounded to the latents'
  // dtype) / 1000, rounded again.
  std::vector<float> timesteps;
  for (int i = 0; i < o.steps; ++i)
    timesteps.push_back(round_to(dtype, round_to(dtype, sigmas[static_cast<std::size_t>(i)] * 1000.0f) / 1000.0f));
  const std::int64_t batch = cfg ? 2 : 1;
  report(p.progress("denoise", 0, o.steps, stage));
  // The modulation of every step first, its model alone on the device; then the token streams.
  const DitModulation modulation =
      p.transformer->precompute_modulation(Tensor::from_floats({o.steps}, timesteps));
  p.transformer->onload();
  for (int i = 0; i < o.steps; ++i) {
    DitInputs in;
    in.hidden_states = cfg ? ops::concat({latents, latents}, 0) : latents;
    in.encoder_hidden_states = text.embeds;
    in.encoder_mask = text.mask;
    in.timestep = Tensor::from_floats({batch}, std::vector<float>(static_cast<std::size_t>(batch), timesteps[static_cast<std::size_t>(i)]));
    in.grid = {1, grid_h, grid_w};
    const Tensor out = p.transformer->forward(in, &modulation).to(dtype);
    const Tensor velocity = cfg ? true_cfg(out.slice(0, 0, 1).contiguous(), out.slice(0, 1, 2).contiguous(), o.cfg,
                                           o.cfg_renorm)
                                : out;
    latents = euler_step(latents, velocity, sigmas[static_cast<std::size_t>(i)], sigmas[static_cast<std::size_t>(i) + 1]);
    report(p.progress("denoise", i + 1, o.steps, stage));
  }
  p.transformer->offload();
  p.stats.stages.push_back({"denoise", seconds_since(stage)});

  // VAE decode.
  stage_name = "vae decode";
  stage = Clock::now();
  report(p.progress("vae decode", 0, 1, stage));
  const Tensor z = ops::unpack_latents(latents.to(DType::f32), o.height / 8, o.width / 8).unsqueeze(2);
  // decode() plans its pass or tiles, announces them and onloads the decoder.
  const Tensor decoded = p.vae->decode(denormalize_latents(p.vae->config(), z), decode_options(o));
  p.vae->offload();
  report(p.progress("vae decode", 1, 1, stage));
  p.stats.stages.push_back({"vae decode", seconds_since(stage)});

  const TelemetrySnapshot t = p.manager->snapshot();
  p.stats.seconds = seconds_since(begin);
  p.stats.peak_device_bytes = t.peak_device_bytes;
  p.stats.peak_resident_bytes = t.peak_resident_bytes;
  p.stats.peak_staging_bytes = t.peak_staging_bytes;
  p.stats.peak_activation_bytes = t.peak_activation_bytes;
  p.stats.bytes_host_to_device = t.bytes_host_to_device;
  p.stats.bytes_disk_to_host = t.bytes_disk_to_host;
  p.stats.copy_wait_seconds = t.copy_wait_seconds;
  p.stats.telemetry_json = t.json();
  return to_image(decoded);
}

PngText generation_parameters_text(const GenerateOptions& o, const std::string& model) {
  const bool cfg = o.cfg > 1.0f && o.negative_prompt.has_value();
  std::string parameters = o.prompt + "\n";
  if (cfg) parameters += "Negative prompt: " + *o.negative_prompt + "\n";
  parameters += "Steps: " + std::to_string(o.steps) + ", Sampler: flow-match Euler, CFG scale: " +
                (cfg ? std::to_string(o.cfg) : std::string("1 (off)")) + ", Seed: " + std::to_string(o.seed) +
                ", Size: " + std::to_string(o.width) + "x" + std::to_string(o.height) + ", Model: " + model;
  nlohmann::ordered_json j{{"prompt", o.prompt},
                           {"negative_prompt", o.negative_prompt ? nlohmann::json(*o.negative_prompt) : nlohmann::json()},
                           {"width", o.width},
                           {"height", o.height},
                           {"steps", o.steps},
                           {"cfg", o.cfg},
                           {"cfg_renorm", o.cfg_renorm},
                           {"seed", o.seed},
                           {"latents", o.latents.string()},
                           {"model", model}};
  return {{"parameters", parameters}, {"vramkit", j.dump()}};
}

}  // namespace vramkit
