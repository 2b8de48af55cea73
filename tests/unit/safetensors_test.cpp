// The safetensors reader and writer: files written by the Python package (tests/data/safetensors, made by
// tools/golden/make_safetensors_files.py), round trips through our writer, zero-copy views, pread ranges and
// the errors of the API around them. The corruption suite is in safetensors_corruption_test.cpp.
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "safetensors_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

using test::Bytes;

const std::filesystem::path kGoldenDir = std::filesystem::path(VRAMKIT_TEST_DATA) / "safetensors";

// Every element of a host tensor as f64, in row-major order.
std::vector<double> values_of(const Tensor& t) {
  const Tensor f = t.to(DType::f64);
  const auto* p = static_cast<const double*>(f.data());
  return std::vector<double>(p, p + f.numel());
}

Bytes bytes_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  const auto* p = static_cast<const std::uint8_t*>(c.data());
  return Bytes(p, p + c.nbytes());
}

Bytes from_hex(const std::string& hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// A host tensor of `dtype` and `shape` holding `bytes` (which must be the right size).
Tensor tensor_from_bytes(DType dtype, const Shape& shape, const Bytes& bytes) {
  Tensor t = Tensor::empty(shape, dtype);
  EXPECT_EQ(t.nbytes(), bytes.size());
  if (!bytes.empty()) std::memcpy(t.data(), bytes.data(), bytes.size());
  return t;
}

TEST(SafetensorsGolden, ReadsEveryDTypeWrittenByThePythonPackage) {
  const auto expected = nlohmann::json::parse(test::read_file(kGoldenDir / "all_dtypes.json"));
  const auto file = SafetensorsFile::open(kGoldenDir / "all_dtypes.safetensors");

  EXPECT_EQ(file->metadata(), (expected["metadata"].get<std::map<std::string, std::string>>()));
  ASSERT_EQ(file->entries().size(), expected["tensors"].size());
  for (const auto& [name, want] : expected["tensors"].items()) {
    SCOPED_TRACE(name);
    const SafetensorsEntry& e = file->entry(name);
    EXPECT_EQ(dtype_safetensors_name(e.dtype), want["dtype"].get<std::string>());
    const auto dims = want["shape"].get<std::vector<std::int64_t>>();
    EXPECT_EQ(e.shape, Shape(std::span<const std::int64_t>(dims)));

    const Tensor view = file->view(name);
    EXPECT_EQ(view.shape(), e.shape);
    EXPECT_EQ(bytes_of(view), from_hex(want["hex"].get<std::string>()));
    EXPECT_EQ(values_of(view), want["values"].get<std::vector<double>>());

    Bytes read(e.bytes());
    file->read(e, 0, e.bytes(), read.data());
    EXPECT_EQ(read, from_hex(want["hex"].get<std::string>()));
  }
}

TEST(SafetensorsGolden, ReadsAFileWithoutTensors) {
  const auto file = SafetensorsFile::open(kGoldenDir / "no_tensors.safetensors");
  EXPECT_TRUE(file->entries().empty());
  EXPECT_TRUE(file->metadata().empty());
  EXPECT_EQ(file->header().data_offset, file->file_size());
}

TEST(SafetensorsParse, MinimalAndEmptyTensorFilesAreValid) {
  const auto none = test::parse(test::make_safetensors("{}"));
  EXPECT_TRUE(none.entries.empty());
  EXPECT_EQ(none.data_offset, 10u);

  // A zero-element tensor may sit anywhere its range is empty, including between others.
  const auto h = test::parse(
      test::make_safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("z":{"dtype":"BF16","shape":[0,5],"data_offsets":[4,4]},)"
                             R"("b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}, "__metadata__": null})",
                             test::iota_bytes(6)));
  ASSERT_EQ(h.entries.size(), 3u);
  EXPECT_EQ(h.entries[0].name, "a");  // sorted by name
  EXPECT_EQ(h.entries[2].name, "z");
  EXPECT_EQ(h.entries[2].bytes(), 0u);
  EXPECT_EQ(h.find("z")->shape, (Shape{0, 5}));
  EXPECT_EQ(h.find("missing"), nullptr);
}

TEST(SafetensorsRoundTrip, WriterOutputReadsBackWithOrderPaddingAndMetadata) {
  const auto dir = test::temp_dir();
  const auto path = dir / "round.safetensors";
  const Tensor f32 = Tensor::from_floats({2, 3}, std::vector<float>{1.5f, -2.0f, 0.0f, 3.25f, 1e-3f, -7.0f});
  const Tensor transposed = f32.transpose(0, 1);  // non-contiguous: written in row-major order
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"z.f32", f32},
      {"a.transposed", transposed},
      {"bf16", f32.to(DType::bf16)},
      {"f8", f32.to(DType::f8_e4m3fn)},
      {"i64", tensor_from_bytes(DType::i64, {2}, test::iota_bytes(16))},
      {"bool", tensor_from_bytes(DType::boolean, {3}, Bytes{1, 0, 1})},
      {"empty", Tensor::empty({0, 4}, DType::f16)},
      {"scalar", Tensor::from_floats({}, std::vector<float>{42.0f}).to(DType::f64)},
  };
  write_safetensors(path, tensors, {{"format", "pt"}, {"b", "x\ny"}});

  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file->metadata(), (std::map<std::string, std::string>{{"format", "pt"}, {"b", "x\ny"}}));
  EXPECT_EQ(file->header().data_offset % 8, 0u);
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    const SafetensorsEntry& e = file->entry(name);
    EXPECT_EQ(e.dtype, t.dtype());
    EXPECT_EQ(e.shape, t.shape());
    EXPECT_EQ(e.begin, offset);  // contiguous, in the given order
    offset = e.end;
    EXPECT_EQ(bytes_of(file->view(name)), bytes_of(t));
  }
  EXPECT_EQ(file->header().data_offset + offset, file->file_size());
  EXPECT_EQ(values_of(file->view("a.transposed")), (std::vector<double>{1.5, 3.25, -2.0, 1e-3f, 0.0, -7.0}));

  // Header text: metadata first, then the tensors in the given order, padded with spaces.
  const Bytes raw = test::read_file(path);
  const std::string header(raw.begin() + 8,
                           raw.begin() + static_cast<std::ptrdiff_t>(file->header().data_offset));
  EXPECT_EQ(header.find("{\"__metadata__\":"), 0u) << header;
  EXPECT_LT(header.find("\"z.f32\""), header.find("\"a.transposed\"")) << header;
  EXPECT_LT(header.find("\"a.transposed\""), header.find("\"scalar\"")) << header;
  EXPECT_EQ(header.find_last_not_of(' '), header.find_last_of('}'));
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp-" + std::to_string(::getpid())));
}

TEST(SafetensorsRoundTrip, WriterRefusesBadInput) {
  const auto dir = test::temp_dir();
  const Tensor t = Tensor::zeros({2}, DType::f32);
  const auto path = dir / "bad.safetensors";
  EXPECT_THROW(write_safetensors(path, {{"x", t}, {"x", t}}), ArgumentError);
  EXPECT_THROW(write_safetensors(path, {{"__metadata__", t}}), ArgumentError);
  EXPECT_THROW(write_safetensors(path, {{"bad\xff", t}}), ArgumentError);
  EXPECT_THROW(write_safetensors(path, {{"x", t}}, {{"k", "\xc0\xaf"}}), ArgumentError);
  EXPECT_THROW(write_safetensors(path, {{"x", Tensor()}}), ArgumentError);
  EXPECT_FALSE(std::filesystem::exists(path));
  try {
    write_safetensors(dir / "no_such_dir" / "x.safetensors", {{"x", t}});
    ADD_FAILURE() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_dir"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST(SafetensorsView, ViewsPointIntoTheMappingAndKeepItAlive) {
  const auto path = test::temp_dir() / "views.safetensors";
  const Bytes data = test::iota_bytes(24);
  test::write_file(
      path, test::make_safetensors(test::padded(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                                                R"("b":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}})"),
                                   data));
  auto file = SafetensorsFile::open(path);
  const Tensor a = file->view("a");
  const Tensor b = file->view("b");
  EXPECT_FALSE(a.storage()->owned());
  EXPECT_EQ(a.device(), Device::cpu());
  // Both views point into one mapping: their addresses differ by the distance of their ranges.
  EXPECT_EQ(static_cast<const std::uint8_t*>(b.data()) - static_cast<const std::uint8_t*>(a.data()), 16);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % 4096, file->file_offset(file->entry("a")) % 4096);

  file.reset();  // the views keep the mapping
  EXPECT_EQ(bytes_of(a), Bytes(data.begin(), data.begin() + 16));
  EXPECT_EQ(bytes_of(b), Bytes(data.begin() + 16, data.end()));
}

TEST(SafetensorsViewDeathTest, TheMappingIsReadOnly) {
  const auto path = test::temp_dir() / "ro.safetensors";
  test::write_file(path, test::make_safetensors(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})",
                                                test::iota_bytes(8)));
  const auto file = SafetensorsFile::open(path);
  const Tensor a = file->view("a");
  EXPECT_DEATH(static_cast<volatile std::uint8_t*>(a.data())[0] = 1, "");
}

TEST(SafetensorsView, MisalignedTensorIsReturnedAsAnAlignedCopy) {
  const auto path = test::temp_dir() / "misaligned.safetensors";
  const Tensor f = Tensor::from_floats({2}, std::vector<float>{0.5f, -3.0f});
  write_safetensors(path, {{"u8", tensor_from_bytes(DType::u8, {3}, Bytes{1, 2, 3})}, {"f", f}});
  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file->file_offset(file->entry("f")) % 4, 3u);
  const Tensor v = file->view("f");
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.data()) % 4, 0u);
  EXPECT_TRUE(v.storage()->owned());
  EXPECT_EQ(v.to_floats(), (std::vector<float>{0.5f, -3.0f}));
  EXPECT_FALSE(file->view("u8").storage()->owned());
}

TEST(SafetensorsRead, PreadRangesAndTheirLimits) {
  const auto path = test::temp_dir() / "pread.safetensors";
  const Bytes data = test::iota_bytes(40);
  test::write_file(
      path, test::make_safetensors(test::padded(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                                                R"("b":{"dtype":"F64","shape":[4],"data_offsets":[8,40]}})"),
                                   data));
  const auto file = SafetensorsFile::open(path);
  const SafetensorsEntry& b = file->entry("b");
  EXPECT_EQ(file->file_offset(b), file->header().data_offset + 8);
  for (const auto& [offset, length] :
       std::vector<std::pair<std::uint64_t, std::uint64_t>>{{0, 32}, {5, 11}, {31, 1}, {32, 0}, {0, 0}}) {
    Bytes out(length + 1, 0xAA);
    file->read(b, offset, length, out.data());
    const auto first = data.begin() + 8 + static_cast<std::ptrdiff_t>(offset);
    EXPECT_EQ(Bytes(out.begin(), out.end() - 1), Bytes(first, first + static_cast<std::ptrdiff_t>(length)));
    EXPECT_EQ(out.back(), 0xAA) << "read past the requested length";
  }
  Bytes out(64);
  EXPECT_THROW(file->read(b, 0, 33, out.data()), ArgumentError);
  EXPECT_THROW(file->read(b, 33, 0, out.data()), ArgumentError);
  EXPECT_THROW(file->read(b, 1, UINT64_MAX, out.data()), ArgumentError);
  EXPECT_THROW(file->read(b, UINT64_MAX, 2, out.data()), ArgumentError);
  SafetensorsEntry foreign = b;
  foreign.end = 1000;
  EXPECT_THROW(file->read(foreign, 0, 1, out.data()), ArgumentError);
}

TEST(SafetensorsRead, ShortReadOfATruncatedFileIsAnIoError) {
  const auto path = test::temp_dir() / "shrinking.safetensors";
  test::write_file(path, test::make_safetensors(R"({"a":{"dtype":"U8","shape":[64],"data_offsets":[0,64]}})",
                                                test::iota_bytes(64)));
  const auto file = SafetensorsFile::open(path);
  std::filesystem::resize_file(path, file->header().data_offset + 10);
  Bytes out(64);
  try {
    file->read(file->entry("a"), 0, 64, out.data());
    ADD_FAILURE() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'a'"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsOpen, ErrorsNameThePathAndTheTensor) {
  const auto dir = test::temp_dir();
  try {
    SafetensorsFile::open(dir / "missing.safetensors");
    ADD_FAILURE() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.safetensors"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SafetensorsFile::open(dir), IoError);

  test::write_file(dir / "empty.safetensors", {});
  try {
    SafetensorsFile::open(dir / "empty.safetensors");
    ADD_FAILURE() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "empty.safetensors").string()), std::string::npos)
        << e.what();
  }

  test::write_file(dir / "ok.safetensors", test::make_safetensors("{}"));
  const auto file = SafetensorsFile::open(dir / "ok.safetensors");
  EXPECT_FALSE(file->contains("w"));
  try {
    file->entry("w");
    ADD_FAILURE() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("ok.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'w'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(file->view("w"), ArgumentError);
}

TEST(SafetensorsParse, PartialBufferNeedsTheWholeHeader) {
  const Bytes full =
      test::make_safetensors(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", test::iota_bytes(4));
  const std::uint64_t data_offset = full.size() - 4;
  const auto header = parse_safetensors_header(std::span(full).first(data_offset), full.size(), "p");
  EXPECT_EQ(header.data_offset, data_offset);
  EXPECT_THROW(parse_safetensors_header(std::span(full).first(data_offset - 1), full.size(), "p"),
               ArgumentError);
  EXPECT_THROW(parse_safetensors_header(std::span(full).first(4), full.size(), "p"), ArgumentError);
  EXPECT_THROW(parse_safetensors_header(full, full.size() - 1, "p"), ArgumentError);
}

}  // namespace
}  // namespace vramkit
