// The model writer behind `vramkit make-test-model`: with the released dimensions its tensor lists are the
// released checkpoint's (tests/data/*_full_keys.txt) for the blocks present, checked on the shapes alone (a
// single full-width block is 0.7 GB); a narrow variant with every component, three transformer shards and fp8
// weights is written for real, reopened by the model loaders (which validate every key and shape) and run
// through the DiT in a resident and a streamed mode.
#include "models/qwen_image/model_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "backends/emu/emu_accelerator.h"
#include "cli_runner.h"
#include "io/model_files.h"
#include "model_test_util.h"
#include "models/qwen_image/dit.h"
#include "models/qwen_image/text_encoder.h"
#include "models/qwen_image/vae.h"
#include "vramkit/error.h"

namespace vramkit::qwen_image {
namespace {

std::map<std::string, Shape> shapes_of(const std::vector<ModelTensor>& tensors) {
  std::map<std::string, Shape> out;
  for (const auto& t : tensors)
    EXPECT_TRUE(out.emplace(t.name, Shape(std::span<const std::int64_t>(t.shape))).second);
  return out;
}

TEST(ModelWriter, ReleasedDimensionsGiveTheReleasedTensorsOfTheBlocksPresent) {
  const QwenImageModelSpec spec = released_dimensions(2, 1);
  EXPECT_EQ(shapes_of(transformer_tensors(spec)), vramkit::test::dit_reference_keys(2));
  const auto vae_list =
      vramkit::test::read_key_list(std::filesystem::path(VRAMKIT_TEST_DATA) / "qwen_image_vae_full_keys.txt");
  EXPECT_EQ(shapes_of(vae_tensors(spec)), (std::map<std::string, Shape>(vae_list.begin(), vae_list.end())));

  // The text encoder: Qwen2.5-VL-7B's language model, one layer of 28.
  const auto text = shapes_of(text_encoder_tensors(spec));
  EXPECT_EQ(text.size(), 1u + 12u + 1u);
  EXPECT_EQ(text.at("model.embed_tokens.weight"), (Shape{152064, 3584}));
  EXPECT_EQ(text.at("model.layers.0.self_attn.k_proj.weight"), (Shape{512, 3584}));
  EXPECT_EQ(text.at("model.layers.0.mlp.down_proj.weight"), (Shape{3584, 18944}));
  EXPECT_EQ(text.count("model.layers.1.mlp.down_proj.weight"), 0u);

  // Bytes: the released transformer less 58 of its 60 blocks (tests/data: 20,430,401,088 parameters,
  // 339,831,296 per block), two bytes each; fp8 halves the rank-2 tensors only.
  std::uint64_t bytes = 0;
  for (const auto& t : transformer_tensors(spec)) bytes += t.bytes();
  EXPECT_EQ(bytes, std::uint64_t{2} * (20'430'401'088 - std::uint64_t{58} * 339'831'296));
  QwenImageModelSpec fp8 = spec;
  fp8.weight_dtype = DType::f8_e4m3fn;
  for (const auto& t : transformer_tensors(fp8))
    EXPECT_EQ(t.dtype, t.shape.size() == 2 ? DType::f8_e4m3fn : DType::bf16) << t.name;

  EXPECT_THROW(released_dimensions(0, 1), ArgumentError);
  EXPECT_THROW(released_dimensions(61, 1), ArgumentError);
  EXPECT_THROW(released_dimensions(1, 29), ArgumentError);
  EXPECT_THROW(released_dimensions(1, -1), ArgumentError);
  EXPECT_NO_THROW(released_dimensions(60, 0));
}

// The released layout with narrow widths: 3 blocks, 2 text layers, a small VAE.
QwenImageModelSpec narrow_spec(DType dtype) {
  QwenImageModelSpec spec = released_dimensions(3, 2);
  spec.dit.num_attention_heads = 2;
  spec.dit.attention_head_dim = 16;
  spec.dit.joint_attention_dim = 32;
  spec.dit.axes_dims_rope = {4, 6, 6};
  spec.text_encoder.hidden_size = 32;
  spec.text_encoder.num_attention_heads = 2;
  spec.text_encoder.num_key_value_heads = 1;
  spec.text_encoder.intermediate_size = 64;
  spec.vae.base_dim = 8;
  spec.weight_dtype = dtype;
  spec.seed = 7;
  spec.max_shard_bytes = 40'000;  // forces one shard per block: 3
  return spec;
}

TEST(ModelWriter, NarrowFp8ModelReopensShardedAndRuns) {
  const auto dir = vramkit::test::scratch_dir("model_writer_fp8");
  const QwenImageModelSpec spec = narrow_spec(DType::f8_e4m3fn);
  write_qwen_image_model(dir, spec);

  const auto transformer = WeightFiles::open(dir / "transformer");
  ASSERT_EQ(transformer.files().size(), 3u);
  EXPECT_EQ(transformer.files()[2]->path().filename(), "diffusion_pytorch_model-00003-of-00003.safetensors");
  EXPECT_TRUE(transformer.files()[0]->contains("img_in.weight"));
  EXPECT_TRUE(transformer.files()[0]->contains("transformer_blocks.0.attn.to_q.weight"));
  EXPECT_TRUE(transformer.files()[2]->contains("transformer_blocks.2.attn.to_q.weight"));
  EXPECT_TRUE(transformer.files()[2]->contains("proj_out.weight"));
  EXPECT_EQ(transformer.at("transformer_blocks.1.attn.to_q.weight").dtype(), DType::f8_e4m3fn);
  EXPECT_EQ(transformer.at("transformer_blocks.1.attn.to_q.bias").dtype(), DType::bf16);
  EXPECT_EQ(WeightFiles::open(dir / "text_encoder").at("model.embed_tokens.weight").dtype(),
            DType::f8_e4m3fn);

  // The loaders validate every key and shape against the config files the writer wrote.
  VramManager manager(std::make_shared<EmuAccelerator>(EmuOptions{256u << 20, 0, 0}), {});
  EXPECT_NO_THROW(QwenImageTextEncoder::open(manager, dir, VramConfig::preset("none")));
  EXPECT_NO_THROW(QwenImageVaeDecoder::open(manager, dir, VramConfig::preset("none")));
  EXPECT_NO_THROW(QwenImageVaeEncoder::open(manager, dir, VramConfig::preset("none")));

  // The DiT computes with the fp8 weights upcast to bf16, resident and streamed, to the same values.
  DitInputs in;
  std::vector<float> x(2 * 16 * 64), c(2 * 5 * 32);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = std::cos(0.11f * static_cast<float>(i));
  in.hidden_states = Tensor::from_floats({2, 16, 64}, x);
  in.encoder_hidden_states = Tensor::from_floats({2, 5, 32}, c);
  in.timestep = Tensor::from_floats({2}, std::vector<float>{0.5f, 0.5f});
  in.grid = {1, 4, 4};
  std::vector<std::vector<float>> outputs;
  const std::pair<VramConfig, std::optional<std::uint64_t>> modes[] = {
      {VramConfig::preset("none"), std::nullopt},
      {VramConfig::preset("dynamic").with_storage_dtype(DType::bf16), 0}};
  for (const auto& [config, limit] : modes) {
    ManagerOptions options;
    options.vram_limit = limit;
    VramManager m(std::make_shared<EmuAccelerator>(EmuOptions{256u << 20, 0, 0}), options);
    const auto dit = QwenImageDit::open(m, dir, config);
    outputs.push_back(dit->forward(in).to_floats());
  }
  ASSERT_EQ(outputs[0].size(), 2u * 16u * 64u);
  double norm = 0;
  for (const float v : outputs[0]) {
    ASSERT_TRUE(std::isfinite(v));
    norm += static_cast<double>(v) * v;
  }
  EXPECT_GT(norm, 0.0);
  EXPECT_EQ(outputs[0], outputs[1]);
  std::filesystem::remove_all(dir);
}

TEST(ModelWriter, ValuesDependOnTheSeedAloneAndOneShardHasNoIndex) {
  const auto dir = vramkit::test::scratch_dir("model_writer_seed");
  QwenImageModelSpec spec = narrow_spec(DType::bf16);
  spec.max_shard_bytes = 5'000'000'000;
  write_qwen_image_model(dir / "a", spec);
  write_qwen_image_model(dir / "b", spec);
  spec.seed = 8;
  write_qwen_image_model(dir / "c", spec);
  const auto file = [&](const char* name) {
    return vramkit::test::read_text(dir / name / "transformer" / "diffusion_pytorch_model.safetensors");
  };
  EXPECT_FALSE(
      std::filesystem::exists(dir / "a" / "transformer" / "diffusion_pytorch_model.safetensors.index.json"));
  EXPECT_EQ(file("a"), file("b"));
  EXPECT_NE(file("a"), file("c"));
  // Uniform in ±1/sqrt(fan_in) for a Linear weight; norm scales around 1.
  const auto weights = WeightFiles::open(dir / "a" / "transformer");
  const auto q = weights.view("transformer_blocks.0.attn.to_q.weight").to_floats();
  const float bound = 1.0f / std::sqrt(32.0f);
  EXPECT_LE(*std::max_element(q.begin(), q.end()), bound);
  EXPECT_GE(*std::min_element(q.begin(), q.end()), -bound);
  EXPECT_GT(*std::max_element(q.begin(), q.end()), 0.9f * bound);
  const auto norm = weights.view("transformer_blocks.0.attn.norm_q.weight").to_floats();
  for (const float v : norm) EXPECT_NEAR(v, 1.0f, 0.1f);

  spec.weight_dtype = DType::f16;
  EXPECT_THROW(write_qwen_image_model(dir / "d", spec), ArgumentError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vramkit::qwen_image
