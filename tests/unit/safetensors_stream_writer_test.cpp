// SafetensorsStreamWriter: a file written piece by piece is byte-identical to write_safetensors' output for
// the same tensors, reads back through the validating reader, and every misuse (too many or too few bytes, a
// piece crossing a tensor's end, bad declarations) is an error naming the file and the tensor that leaves no
// file behind.
#include <gtest/gtest.h>

#include <algorithm>

#include "io/safetensors.h"
#include "safetensors_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

using test::Bytes;

std::vector<std::pair<std::string, Tensor>> sample_tensors() {
  std::vector<float> a(6), b(5);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = 0.5f * static_cast<float>(i) - 1.0f;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i * i);
  return {{"w", Tensor::from_floats({2, 3}, a).to(DType::bf16)},
          {"empty", Tensor::from_floats({0, 4}, {})},
          {"b", Tensor::from_floats({5}, b)},
          {"f8",
           Tensor::from_floats({2, 2}, std::vector<float>{1.0f, -2.0f, 0.25f, 448.0f}).to(DType::f8_e4m3fn)}};
}

std::vector<SafetensorsTensorInfo> infos_of(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  std::vector<SafetensorsTensorInfo> infos;
  for (const auto& [name, t] : tensors) infos.push_back({name, t.dtype(), t.shape()});
  return infos;
}

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

TEST(SafetensorsStreamWriter, PiecewiseOutputIsIdenticalToWriteSafetensors) {
  const auto dir = test::temp_dir();
  const auto tensors = sample_tensors();
  const std::map<std::string, std::string> metadata{{"format", "pt"}};
  write_safetensors(dir / "whole.safetensors", tensors, metadata);

  SafetensorsStreamWriter out(dir / "streamed.safetensors", infos_of(tensors), metadata);
  EXPECT_EQ(out.current()->name, "w");
  EXPECT_EQ(out.current_remaining(), 12u);
  // Pieces of 1, 2, 3, ... bytes, never crossing a tensor's end; the empty tensor is skipped.
  for (const auto& [name, t] : tensors) {
    const auto* p = static_cast<const std::uint8_t*>(t.data());
    std::size_t done = 0, piece = 1;
    while (done < t.nbytes()) {
      const std::size_t n = std::min(piece++, t.nbytes() - done);
      out.write(p + done, n);
      done += n;
    }
  }
  EXPECT_EQ(out.current(), nullptr);
  EXPECT_FALSE(std::filesystem::exists(dir / "streamed.safetensors"));  // only the temporary file so far
  out.finish();

  EXPECT_EQ(test::read_file(dir / "streamed.safetensors"), test::read_file(dir / "whole.safetensors"));
  const auto file = SafetensorsFile::open(dir / "streamed.safetensors");
  EXPECT_EQ(file->view("f8").to_floats(), (std::vector<float>{1.0f, -2.0f, 0.25f, 448.0f}));
  EXPECT_EQ(file->view("b").to_floats(), tensors[2].second.to_floats());
  EXPECT_EQ(file->metadata().at("format"), "pt");
  std::filesystem::remove_all(dir);
}

TEST(SafetensorsStreamWriter, MisuseIsAnErrorNamingTheFileAndTheTensor) {
  const auto dir = test::temp_dir();
  const auto path = dir / "m.safetensors";
  const Bytes bytes(64, 1);
  {
    SafetensorsStreamWriter out(path, {{"a", DType::f32, Shape{2}}, {"b", DType::bf16, Shape{3}}});
    const std::string crossing = error_of([&] { out.write(bytes.data(), 9); });
    EXPECT_NE(crossing.find("m.safetensors"), std::string::npos) << crossing;
    EXPECT_NE(crossing.find("crosses the end of tensor 'a' (8 bytes left)"), std::string::npos) << crossing;
    out.write(bytes.data(), 8);
    out.write(bytes.data(), 2);
    const std::string missing = error_of([&] { out.finish(); });
    EXPECT_NE(missing.find("tensor 'b' is missing 4 of its 6 bytes"), std::string::npos) << missing;
    out.write(bytes.data(), 4);
    const std::string extra = error_of([&] { out.write(bytes.data(), 1); });
    EXPECT_NE(extra.find("after the last tensor"), std::string::npos) << extra;
  }
  // Abandoned before finish(): neither the file nor its temporary copy is left behind.
  EXPECT_TRUE(std::filesystem::is_empty(dir));

  EXPECT_THROW(SafetensorsStreamWriter(path, {{"a", DType::f32, Shape{1}}, {"a", DType::f32, Shape{1}}}),
               ArgumentError);
  EXPECT_THROW(SafetensorsStreamWriter(path, {{"__metadata__", DType::f32, Shape{1}}}), ArgumentError);
  EXPECT_THROW(SafetensorsStreamWriter(path, {{"\xff", DType::f32, Shape{1}}}), ArgumentError);
  const std::string huge = error_of([&] {
    SafetensorsStreamWriter(path,
                            {{"huge", DType::f64, Shape{std::int64_t{1} << 31, std::int64_t{1} << 31}}});
  });
  EXPECT_NE(huge.find("'huge'"), std::string::npos) << huge;
  EXPECT_THROW(SafetensorsStreamWriter(dir / "no-such-dir" / "x.safetensors", {}), IoError);
  EXPECT_TRUE(std::filesystem::is_empty(dir));

  SafetensorsStreamWriter done(path, {});
  done.finish();
  EXPECT_THROW(done.finish(), ArgumentError);
  EXPECT_THROW(done.write(bytes.data(), 1), ArgumentError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vramkit
