// Block-level units (ManagerOptions::block_units, `--units block`): group_block_units merges the leaves of each
// transformer block into one unit, and the models served through UnitCursor run on them unchanged (their
// outputs are compared bit for bit with leaf units in the parity tests' memory modes).
#include <gtest/gtest.h>

#include "backends/emu/emu_accelerator.h"
#include "models/module_list.h"
#include "models/qwen_image/dit.h"
#include "models/qwen_image/tiny_model.h"
#include "models/unit_cursor.h"
#include "ops/placement.h"
#include "vram/manager.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

TEST(BlockUnits, ConsecutiveLeavesOfABlockBecomeOneUnit) {
  const std::vector<UnitSpec> leaves{{"img_in", {"img_in.weight", "img_in.bias"}},
                                     {"transformer_blocks.0.attn.to_q", {"transformer_blocks.0.attn.to_q.weight"}},
                                     {"transformer_blocks.0.img_mlp", {"transformer_blocks.0.img_mlp.w"}},
                                     {"transformer_blocks.10.attn.to_q", {"transformer_blocks.10.attn.to_q.weight"}},
                                     {"transformer_blocks.1x.odd", {"transformer_blocks.1x.odd.weight"}},
                                     {"my_transformer_blocks.2.a", {"my_transformer_blocks.2.a.weight"}},
                                     {"proj_out", {"proj_out.weight"}}};
  const std::vector<UnitSpec> grouped = group_block_units(leaves, "transformer_blocks.");
  std::vector<std::string> names;
  for (const UnitSpec& u : grouped) names.push_back(u.name);
  // Only "<marker><digits>." opens a block, and only at a name's start or after a '.'.
  EXPECT_EQ(names, (std::vector<std::string>{"img_in", "transformer_blocks.0", "transformer_blocks.10",
                                             "transformer_blocks.1x.odd", "my_transformer_blocks.2.a", "proj_out"}));
  EXPECT_EQ(grouped[1].tensors,
            (std::vector<std::string>{"transformer_blocks.0.attn.to_q.weight", "transformer_blocks.0.img_mlp.w"}));
}

TEST(BlockUnits, TheTransformerHasOneUnitPerBlockAndNamesDriftClearly) {
  const qwen_image::TinyModelFolder tiny;
  ManagerOptions options;
  options.block_units = true;
  options.vram_limit = 0;
  VramManager manager(std::make_shared<EmuAccelerator>(EmuOptions{64u << 20, 0, 0}), options);
  const auto dit = qwen_image::QwenImageDit::open(
      manager, tiny.path(), VramConfig::preset("dynamic").with_storage_dtype(DType::bf16));
  std::vector<std::string> names;
  for (const auto& u : dit->managed().units()) names.push_back(u.name);
  EXPECT_EQ(names, (std::vector<std::string>{"img_in", "txt_norm", "txt_in", "transformer_blocks.0",
                                             "transformer_blocks.1", "proj_out"}));

  // A forward that asks for a leaf outside the held block and not next in the order is refused by name.
  dit->managed().set_workspace_bytes(1 << 20);  // the activations below, in the device arena
  dit->onload();
  UnitCursor units(dit->managed());
  const Tensor x =
      ops::to_device(Tensor::zeros({1, 2, dit->config().in_channels}, DType::bf16), units.device());
  units.linear("img_in", x);
  EXPECT_THROW(
      {
        try {
          units.linear("transformer_blocks.0.attn.to_q", x);
        } catch (const ArgumentError& e) {
          EXPECT_NE(std::string(e.what()).find("which holds txt_norm"), std::string::npos) << e.what();
          throw;
        }
      },
      ArgumentError);
}

}  // namespace
}  // namespace vramkit
