#include "models/qwen_image/dit_modulation.h"

#include <cstring>

#include "models/qwen_image/dit_workspace.h"
#include "models/qwen_image/timestep_embedding.h"
#include "models/unit_cursor.h"
#include "ops/activation.h"
#include "ops/layout.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {

DitModulation DitModulation::rows_for(const Tensor& timestep) const {
  if (timestep.rank() != 1) throw ShapeError("timestep " + timestep.str() + " must be [B]");
  const Tensor wanted = ops::to_host(timestep).to(DType::f32);
  const std::vector<float> have = timesteps.to_floats(), want = wanted.to_floats();
  std::vector<std::int64_t> index;
  for (const float t : want) {
    std::size_t row = 0;
    // Bitwise equality: the table is only valid for the exact values it was computed from.
    while (row < have.size() && std::memcmp(&have[row], &t, sizeof t) != 0) ++row;
    if (row == have.size())
      throw ArgumentError("Qwen-Image transformer: timestep " + std::to_string(t) +
                          " is not one of the " + std::to_string(have.size()) +
                          " timesteps whose modulation was precomputed");
    index.push_back(static_cast<std::int64_t>(row));
  }
  // The rows gathered with one device copy each (the indices are already checked here, so no lookup op, whose
  // range check would synchronize the device once per table).
  const auto pick = [&](const Tensor& table) {
    std::vector<Tensor> rows;
    for (const std::int64_t i : index) rows.push_back(table.slice(0, i, i + 1));
    return ops::concat(rows, 0);
  };
  DitModulation out;
  out.timesteps = wanted;
  for (const Tensor& t : image) out.image.push_back(pick(t));
  for (const Tensor& t : text) out.text.push_back(pick(t));
  out.output = pick(output);
  return out;
}

DitModulation compute_dit_modulation(ManagedModel& model, const DitConfig& config, const Tensor& timesteps,
                                     DType dtype) {
  if (timesteps.rank() != 1 || timesteps.size(0) == 0)
    throw ShapeError("Qwen-Image transformer modulation: timesteps " + timesteps.str() + " must be [S], S > 0");
  model.reserve_workspace(
      dit_modulation_workspace_bytes(config, timesteps.size(0), dtype, op_kernels_of(model)));
  if (!model.onloaded()) model.onload();
  UnitCursor units(model);
  const Tensor host_timesteps = ops::to_host(timesteps);
  Tensor temb = ops::to_device(timestep_projection(host_timesteps, DitConfig::kTimestepChannels, dtype),
                               units.device());
  temb = units.linear("time_text_embed.timestep_embedder.linear_1", temb);
  temb = units.linear("time_text_embed.timestep_embedder.linear_2", ops::silu(temb));
  const Tensor temb_silu = ops::silu(temb);
  DitModulation m;
  m.timesteps = host_timesteps.to(DType::f32);
  for (std::int64_t i = 0; i < config.num_layers; ++i) {
    const std::string p = "transformer_blocks." + std::to_string(i) + ".";
    m.image.push_back(units.linear(p + "img_mod.1", temb_silu));
    m.text.push_back(units.linear(p + "txt_mod.1", temb_silu));
  }
  m.output = units.linear("norm_out.linear", temb_silu);
  return m;
}

}  // namespace vramkit::qwen_image
