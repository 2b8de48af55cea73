// Model files: glob rules (expected values checked against Python's fnmatch.fnmatchcase and glob.glob on the
// same names and tree), pattern resolution, WeightFiles over single files, shard indexes and folders with
// every documented error, and diffusers model-folder detection.
#include "io/model_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "io/glob.h"
#include "io/model_folder.h"
#include "io/safetensors.h"
#include "vramkit/error.h"
#include "vramkit/log.h"

namespace vramkit {
namespace {

namespace fs = std::filesystem;

// A fresh folder under the system temp dir, removed with the fixture.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    root_ = fs::temp_directory_path() /
            ("vramkit_model_files_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path touch(const std::string& relative, const std::string& content = "") {
    const fs::path p = root_ / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    return p;
  }

  // Writes a safetensors file of f32 vectors: each named tensor holds `length` copies of `value`.
  fs::path write_st(const std::string& relative, const std::vector<std::pair<std::string, float>>& tensors,
                    std::int64_t length = 3) {
    const fs::path p = root_ / relative;
    fs::create_directories(p.parent_path());
    std::vector<std::pair<std::string, Tensor>> named;
    for (const auto& [name, value] : tensors) {
      std::vector<float> values(static_cast<std::size_t>(length), value);
      named.emplace_back(name, Tensor::from_floats(Shape{length}, values));
    }
    write_safetensors(p, named);
    return p;
  }

  fs::path root_;
};

class WeightFilesTest : public TempDirTest {};
class ModelFolderTest : public TempDirTest {};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no exception)";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(GlobMatch, FollowsPythonFnmatch) {
  struct Case {
    const char* pattern;
    const char* name;
    bool expected;
  };
  const Case cases[] = {
      {"*.safetensors", "a.safetensors", true},
      {"*", "", true},
      {"?", "", false},
      {"a?c", "abc", true},
      {"[abc]x", "bx", true},
      {"[!abc]x", "bx", false},
      {"[a-c]", "b", true},
      {"[z-a]", "m", false},
      {"[z-a]", "-", false},
      {"[]]", "]", true},
      {"[!]]", "a", true},
      {"[!]]", "]", false},
      {"[", "[", true},
      {"a[b", "a[b", true},
      {"[!]", "[!]", true},
      {"[!]", "!", false},
      {"[a-]", "-", true},
      {"\\*", "\\x", true},
      {"\\*", "x", false},
      {"**", "abc", true},
      {"*a*b*", "xaybz", true},
      {"*ab", "aab", true},
      {"\xc3\xa9?",
       "\xc3\xa9"
       "a",
       true},
      {"?", "\xc3\xa9", true},
      {"[a-c-e]", "-", true},
      {"[a-c-e]", "d", false},
      {"[--0]", ".", true},
      {"A*", "abc", false},
      {"[!a-c]", "d", true},
      {"[!a-c]", "b", false},
      {"[^a]", "^", true},
      {"[^a]", "b", false},
      {"model*.safetensors", "model.safetensors", true},
  };
  for (const Case& c : cases)
    EXPECT_EQ(glob_match_component(c.pattern, c.name), c.expected) << c.pattern << " vs " << c.name;
  EXPECT_TRUE(has_glob_magic("a[b"));
  EXPECT_FALSE(has_glob_magic("transformer/config.json"));
}

class GlobTree : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    touch("transformer/diffusion_pytorch_model-00002-of-00002.safetensors");
    touch("transformer/diffusion_pytorch_model-00001-of-00002.safetensors");
    touch("transformer/diffusion_pytorch_model.safetensors.index.json");
    touch("transformer/config.json");
    touch("transformer/.hidden.safetensors");
    touch("vae/diffusion_pytorch_model.safetensors");
    touch(".cache/x.safetensors");
    fs::create_directories(root_ / "text_encoder");
  }
  std::vector<std::string> glob(const std::string& pattern) { return glob_in_folder(root_, pattern); }
};

TEST_F(GlobTree, MatchesLikePythonGlob) {
  using V = std::vector<std::string>;
  const V shards{"transformer/diffusion_pytorch_model-00001-of-00002.safetensors",
                 "transformer/diffusion_pytorch_model-00002-of-00002.safetensors"};
  EXPECT_EQ(glob("transformer/diffusion_pytorch_model*.safetensors"), shards);
  EXPECT_EQ(glob("transformer/*.safetensors"), shards);  // the hidden file is not matched by '*'
  EXPECT_EQ(glob("transformer//*.safetensors"), shards);
  EXPECT_EQ(glob("transformer/.*"), V{"transformer/.hidden.safetensors"});
  EXPECT_EQ(glob("transformer/.hidden.safetensors"), V{"transformer/.hidden.safetensors"});
  EXPECT_EQ(glob("*/diffusion_pytorch_model.safetensors"), V{"vae/diffusion_pytorch_model.safetensors"});
  EXPECT_EQ(glob(".*/*.safetensors"), V{".cache/x.safetensors"});
  EXPECT_EQ(glob("*/"), (V{"text_encoder", "transformer", "vae"}));
  EXPECT_EQ(glob("transformer/"), V{"transformer"});
  EXPECT_EQ(glob("t*/c?nfig.json"), V{"transformer/config.json"});
  EXPECT_EQ(glob("*/*.json"),
            (V{"transformer/config.json", "transformer/diffusion_pytorch_model.safetensors.index.json"}));
  EXPECT_TRUE(glob("vae/diffusion_pytorch_model.safetensors/").empty());
  EXPECT_TRUE(glob("missing/*.safetensors").empty());
  EXPECT_TRUE(glob("transformer/config.json/x").empty());
  EXPECT_TRUE(glob("Transformer/*").empty());  // case-sensitive
  EXPECT_THROW(glob("/etc/*"), ArgumentError);
  EXPECT_THROW(glob(""), ArgumentError);
}

TEST_F(GlobTree, ResolveModelFiles) {
  EXPECT_EQ(resolve_model_files(root_, ""), std::vector<fs::path>{root_});
  EXPECT_EQ(resolve_model_files(root_, "vae/diffusion_pytorch_model.safetensors"),
            std::vector<fs::path>{root_ / "vae/diffusion_pytorch_model.safetensors"});
  EXPECT_EQ(resolve_model_files(root_, "transformer/"), std::vector<fs::path>{root_ / "transformer"});
  const std::string no_match = message_of([&] { resolve_model_files(root_, "vae/*.bin"); });
  EXPECT_TRUE(contains(no_match, "'vae/*.bin'") && contains(no_match, root_.string())) << no_match;
  EXPECT_THROW(resolve_model_files(root_ / "absent", "*"), ArgumentError);
}

TEST_F(WeightFilesTest, SingleFileLookupOffsetsAndViews) {
  const fs::path file = write_st("model.safetensors", {{"b.weight", 2.0f}, {"a.bias", 1.0f}});
  const WeightFiles w = WeightFiles::open(file);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w.tensors()[0].name(), "a.bias");  // sorted by name
  EXPECT_EQ(w.tensors()[1].name(), "b.weight");
  EXPECT_EQ(w.total_bytes(), 2u * 3u * 4u);
  const WeightTensor& b = w.at("b.weight");
  EXPECT_EQ(b.dtype(), DType::f32);
  EXPECT_EQ(b.shape(), Shape{3});
  EXPECT_EQ(b.bytes(), 12u);
  EXPECT_EQ(&w.file(b), w.files()[0].get());
  EXPECT_EQ(b.file_offset, w.file(b).file_offset(*b.entry));
  // The bytes at the recorded file offset are the tensor's values.
  std::ifstream in(file, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(b.file_offset));
  float first = 0;
  in.read(reinterpret_cast<char*>(&first), sizeof first);
  EXPECT_EQ(first, 2.0f);
  EXPECT_EQ(w.view("a.bias").to_floats(), (std::vector<float>{1.0f, 1.0f, 1.0f}));
  EXPECT_EQ(w.find("absent"), nullptr);
  const std::string missing = message_of([&] { w.at("absent"); });
  EXPECT_TRUE(contains(missing, "'absent'") && contains(missing, "model.safetensors")) << missing;
}

// Writes shards s1 = {a, b}, s2 = {c} and an index mapping each key as given.
class ShardedTest : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    write_st("m/model-00001-of-00002.safetensors", {{"a", 1.0f}, {"b", 2.0f}});
    write_st("m/model-00002-of-00002.safetensors", {{"c", 3.0f}}, 5);
  }
  fs::path write_index(const std::string& weight_map_json) {
    return touch("m/model.safetensors.index.json",
                 R"({"metadata": {"total_size": 32}, "weight_map": )" + weight_map_json + "}");
  }
  const std::string good_map =
      R"({"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                                   "c": "model-00002-of-00002.safetensors"})";
};

TEST_F(ShardedTest, IndexMapsEveryTensorToItsShard) {
  const fs::path index = write_index(good_map);
  for (const WeightFiles& w : {WeightFiles::open(index), WeightFiles::open(root_ / "m"),
                               WeightFiles::open_pattern(root_, "m/model*.safetensors"),
                               WeightFiles::open({index, root_ / "m/model-00002-of-00002.safetensors"})}) {
    ASSERT_EQ(w.size(), 3u);
    ASSERT_EQ(w.files().size(), 2u);
    EXPECT_EQ(w.file(w.at("a")).path().filename(), "model-00001-of-00002.safetensors");
    EXPECT_EQ(w.file(w.at("c")).path().filename(), "model-00002-of-00002.safetensors");
    EXPECT_EQ(w.total_bytes(), 3u * 4u + 3u * 4u + 5u * 4u);
    EXPECT_EQ(w.view("c").to_floats(), std::vector<float>(5, 3.0f));
  }
}

TEST_F(ShardedTest, IndexErrorsNameTheFault) {
  const std::string missing_shard = message_of([&] {
    WeightFiles::open(
        write_index(R"({"a": "model-00001-of-00002.safetensors", "z": "model-00003.safetensors"})"));
  });
  EXPECT_TRUE(contains(missing_shard, "model-00003.safetensors") && contains(missing_shard, "does not exist"))
      << missing_shard;
  EXPECT_THROW(WeightFiles::open(write_index(R"({"z": "model-00003.safetensors"})")), FormatError);

  const std::string missing_key = message_of([&] {
    WeightFiles::open(
        write_index(R"({"a": "model-00001-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"})"));
  });
  EXPECT_TRUE(contains(missing_key, "'c'") && contains(missing_key, "does not hold")) << missing_key;

  EXPECT_THROW(WeightFiles::open(write_index("{}")), FormatError);
  EXPECT_THROW(WeightFiles::open(write_index(R"({"a": 3})")), FormatError);
  EXPECT_THROW(WeightFiles::open(touch("m/model.safetensors.index.json", "{\"weight_map\": ")), FormatError);
  EXPECT_THROW(WeightFiles::open(touch("m/model.safetensors.index.json", "{}")), FormatError);
}

TEST_F(ShardedTest, KeyInTwoShardsIsAnError) {
  write_st("m/model-00002-of-00002.safetensors", {{"c", 3.0f}, {"a", 9.0f}});
  const std::string two = message_of([&] {
    WeightFiles::open(
        {root_ / "m/model-00001-of-00002.safetensors", root_ / "m/model-00002-of-00002.safetensors"});
  });
  EXPECT_TRUE(contains(two, "'a'") && contains(two, "model-00001-of-00002.safetensors") &&
              contains(two, "model-00002-of-00002.safetensors"))
      << two;
  // Also when the index lists the key in only one of them.
  EXPECT_THROW(WeightFiles::open(write_index(good_map)), FormatError);
}

TEST_F(ShardedTest, UnlistedShardKeyIsKeptWithAWarning) {
  write_st("m/model-00002-of-00002.safetensors", {{"c", 3.0f}, {"extra", 4.0f}});
  std::vector<std::string> warnings;
  const LogLevel saved = log_level();
  set_log_level(LogLevel::warn);
  set_log_callback([&](LogLevel level, std::string_view m) {
    if (level == LogLevel::warn) warnings.emplace_back(m);
  });
  const WeightFiles w = WeightFiles::open(write_index(good_map));
  set_log_callback({});
  set_log_level(saved);
  EXPECT_TRUE(w.contains("extra"));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(contains(warnings[0], "'extra'") && contains(warnings[0], "model-00002-of-00002.safetensors"))
      << warnings[0];
}

TEST_F(WeightFilesTest, RejectsWhatIsNotSafetensors) {
  const std::string bin = message_of([&] { WeightFiles::open(touch("pytorch_model.bin", "x")); });
  EXPECT_TRUE(contains(bin, "pytorch_model.bin") && contains(bin, "only safetensors")) << bin;
  for (const char* name : {"w.pt", "w.pth", "w.ckpt"})
    EXPECT_THROW(WeightFiles::open(touch(name)), ArgumentError);
  EXPECT_THROW(WeightFiles::open(touch("config.json", "{}")), ArgumentError);

  touch("pickled/diffusion_pytorch_model.bin", "x");
  const std::string folder = message_of([&] { WeightFiles::open(root_ / "pickled"); });
  EXPECT_TRUE(contains(folder, "diffusion_pytorch_model.bin") && contains(folder, "only safetensors"))
      << folder;
  fs::create_directories(root_ / "empty");
  EXPECT_THROW(WeightFiles::open(root_ / "empty"), ArgumentError);

  const std::string absent = message_of([&] { WeightFiles::open(root_ / "absent.safetensors"); });
  EXPECT_TRUE(contains(absent, "absent.safetensors")) << absent;
  EXPECT_THROW(WeightFiles::open(std::vector<fs::path>{}), ArgumentError);

  const std::string corrupt =
      message_of([&] { WeightFiles::open(touch("bad.safetensors", "not a header")); });
  EXPECT_TRUE(contains(corrupt, "bad.safetensors")) << corrupt;
}

TEST_F(WeightFilesTest, FolderWithSeveralIndexesIsAmbiguous) {
  write_st("m/a.safetensors", {{"x", 1.0f}});
  touch("m/a.safetensors.index.json", R"({"weight_map": {"x": "a.safetensors"}})");
  touch("m/b.safetensors.index.json", R"({"weight_map": {"x": "a.safetensors"}})");
  const std::string both = message_of([&] { WeightFiles::open(root_ / "m"); });
  EXPECT_TRUE(contains(both, "a.safetensors.index.json") && contains(both, "b.safetensors.index.json"))
      << both;
}

TEST_F(ModelFolderTest, DiffusersFolderComponents) {
  touch("model_index.json", R"({"_class_name": "QwenImagePipeline", "_diffusers_version": "0.34.0",
      "transformer": ["diffusers", "QwenImageTransformer2DModel"],
      "vae": ["diffusers", "AutoencoderKLQwenImage"],
      "tokenizer": ["transformers", "Qwen2Tokenizer"],
      "text_encoder": ["transformers", "Qwen2_5_VLForConditionalGeneration"],
      "feature_extractor": [null, null]})");
  write_st("transformer/diffusion_pytorch_model-00001-of-00002.safetensors", {{"img_in.weight", 1.0f}});
  write_st("transformer/diffusion_pytorch_model-00002-of-00002.safetensors", {{"proj_out.weight", 2.0f}});
  touch("transformer/diffusion_pytorch_model.safetensors.index.json",
        R"({"weight_map": {"img_in.weight": "diffusion_pytorch_model-00001-of-00002.safetensors",
                           "proj_out.weight": "diffusion_pytorch_model-00002-of-00002.safetensors"}})");
  touch("transformer/config.json", "{}");
  write_st("vae/diffusion_pytorch_model.safetensors", {{"decoder.conv_in.weight", 3.0f}});
  touch("tokenizer/vocab.json", "{}");

  EXPECT_TRUE(ModelFolder::is_model_folder(root_));
  EXPECT_FALSE(ModelFolder::is_model_folder(root_ / "vae"));
  const ModelFolder folder = ModelFolder::open(root_);
  EXPECT_EQ(folder.pipeline_class(), "QwenImagePipeline");
  ASSERT_EQ(folder.components().size(), 4u);  // feature_extractor [null, null] is skipped
  EXPECT_EQ(folder.components()[0].name, "text_encoder");
  EXPECT_FALSE(folder.components()[0].folder_exists);
  const ModelComponent& transformer = folder.component("transformer");
  EXPECT_EQ(transformer.class_name, "QwenImageTransformer2DModel");
  EXPECT_EQ(transformer.config, root_ / "transformer/config.json");
  ASSERT_TRUE(transformer.weights.has_value());
  EXPECT_EQ(transformer.weights->size(), 2u);
  EXPECT_EQ(transformer.weights->files().size(), 2u);
  EXPECT_FALSE(folder.component("tokenizer").weights.has_value());
  EXPECT_TRUE(folder.component("vae").weights->contains("decoder.conv_in.weight"));
  const std::string unknown = message_of([&] { folder.component("unet"); });
  EXPECT_TRUE(contains(unknown, "'unet'") && contains(unknown, "transformer")) << unknown;

  touch("vae/diffusion_pytorch_model.bin", "x");
  fs::remove(root_ / "vae/diffusion_pytorch_model.safetensors");
  EXPECT_THROW(ModelFolder::open(root_), ArgumentError);

  touch("model_index.json", R"({"vae": "AutoencoderKLQwenImage"})");
  EXPECT_THROW(ModelFolder::open(root_), FormatError);
  touch("model_index.json", "[");
  EXPECT_THROW(ModelFolder::open(root_), FormatError);
  EXPECT_THROW(ModelFolder::open(root_ / "vae"), ArgumentError);
}

}  // namespace
}  // namespace vramkit
