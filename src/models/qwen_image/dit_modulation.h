// The timestep-only part of the Qwen-Image transformer, its "modulation": the timestep MLP, then per block
// the AdaLN projections of the image and the text stream (img_mod.1, txt_mod.1), and the output norm's
// projection (norm_out.linear). It depends on the timestep alone, so the pipeline computes it for every step
// of a schedule in one pass before the denoising loop: those weights (6.8 of the DiT's 20.4 billion
// parameters) then cross the bus once per generation instead of once per step. A forward without a
// precomputed table computes the rows it needs on the spot, with the same code.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "models/qwen_image/dit_config.h"
#include "vram/managed_model.h"

namespace vramkit::qwen_image {

struct DitModulation {
  Tensor timesteps;           // [S] f32 on the host: the timestep (sigma) of each row
  std::vector<Tensor> image;  // per block: img_mod.1(SiLU(temb)) [S, 6·D], computation dtype
  std::vector<Tensor> text;   // per block: txt_mod.1(SiLU(temb)) [S, 6·D]
  Tensor output;              // norm_out.linear(SiLU(temb)) [S, 2·D]; these three on the model's device

  std::int64_t rows() const { return timesteps.defined() ? timesteps.size(0) : 0; }
  // The rows of the timesteps in `timestep` [B], each of which must be one of `timesteps` exactly (as the
  // pipeline passes the schedule's own values); ArgumentError naming a value that is not.
  DitModulation rows_for(const Tensor& timestep) const;
};

// Runs the modulation units of `model` (dit_units(config, DitUnitGroup::modulation), in that order) for the
// timesteps [S] in one batch of S rows, activations in `dtype`.
DitModulation compute_dit_modulation(ManagedModel& model, const DitConfig& config, const Tensor& timesteps,
                                     DType dtype);

}  // namespace vramkit::qwen_image
