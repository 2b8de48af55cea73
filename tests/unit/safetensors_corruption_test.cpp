// The corruption suite: damaged safetensors files, made in the test from a valid one, must each give a
// FormatError naming the file (and the tensor at fault where there is one), never a crash or another error.
// Also runs every file of the fuzzer's seed corpus (tests/fuzz/corpus/safetensors) through the parser.
#include <gtest/gtest.h>

#include <random>

#include "io/safetensors.h"
#include "safetensors_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

using test::Bytes;
using test::expect_format_error;
using test::make_safetensors;

// One header entry: "name":{"dtype":..., "shape":..., "data_offsets":[begin,end]} with the values as JSON
// text.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& begin, const std::string& end) {
  return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":[" + begin +
         "," + end + "]}";
}

// The valid file every corruption starts from: metadata and three tensors over 32 bytes of data.
const std::string kValidHeader =
    "{\"__metadata__\":{\"format\":\"pt\"}," + entry("blk.0.w", "\"BF16\"", "[2,3]", "0", "12") + "," +
    entry("blk.0.b", "\"F32\"", "[3]", "12", "24") + "," + entry("n", "\"U8\"", "[8]", "24", "32") + "}";
const Bytes kValid = make_safetensors(kValidHeader, test::iota_bytes(32));

// A file holding a single tensor "blk.0.w" described by the given JSON fields over `data_size` bytes.
Bytes single(const std::string& dtype, const std::string& shape, const std::string& begin,
             const std::string& end, std::size_t data_size) {
  return make_safetensors("{" + entry("blk.0.w", dtype, shape, begin, end) + "}",
                          test::iota_bytes(data_size));
}

TEST(SafetensorsCorruption, TheBaseFileIsValid) {
  const auto h = test::parse(kValid);
  ASSERT_EQ(h.entries.size(), 3u);
  EXPECT_EQ(h.metadata.at("format"), "pt");
}

TEST(SafetensorsCorruption, TruncatedAtEveryOffset) {
  for (std::size_t size = 0; size < kValid.size(); ++size) {
    SCOPED_TRACE("truncated to " + std::to_string(size) + " bytes");
    expect_format_error(Bytes(kValid.begin(), kValid.begin() + static_cast<std::ptrdiff_t>(size)));
  }
  // The same through files on disk: the message names the path.
  const auto dir = test::temp_dir();
  const std::size_t data_offset = 8 + kValidHeader.size();
  for (const std::size_t size : {std::size_t{0}, std::size_t{5}, std::size_t{8}, data_offset / 2, data_offset,
                                 data_offset + 13, kValid.size() - 1}) {
    const auto path = dir / ("cut" + std::to_string(size) + ".safetensors");
    test::write_file(path, Bytes(kValid.begin(), kValid.begin() + static_cast<std::ptrdiff_t>(size)));
    try {
      SafetensorsFile::open(path);
      ADD_FAILURE() << "opened " << path;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
  }
}

TEST(SafetensorsCorruption, HeaderLengthWrong) {
  const std::uint64_t n = kValidHeader.size();
  const std::uint64_t file_size = kValid.size();
  for (const std::uint64_t length :
       {std::uint64_t{0}, std::uint64_t{1}, n - 1, n + 1, file_size - 8, file_size - 7,
        kMaxSafetensorsHeaderBytes + 1, std::uint64_t{1} << 63, UINT64_MAX}) {
    SCOPED_TRACE("header length " + std::to_string(length));
    Bytes bytes = kValid;
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(length >> (8 * i));
    expect_format_error(bytes);
  }
  for (int i = 0; i < 8; ++i) {
    Bytes bytes = kValid;
    bytes[i] ^= 0xFF;
    expect_format_error(bytes);
  }
  expect_format_error(Bytes(kValid.begin(), kValid.begin() + 7 + static_cast<std::ptrdiff_t>(n)),
                      {"past the end"});
  expect_format_error(Bytes(kValid.begin(), kValid.begin() + 8 + static_cast<std::ptrdiff_t>(n)),
                      {"tensor 'blk.0.", "past the data section of 0 bytes"});
}

TEST(SafetensorsCorruption, OverlappingGapsAndOutOfRangeOffsets) {
  const std::string u8x8 = "\"U8\"";
  // Overlap: the message names both tensors.
  expect_format_error(make_safetensors("{" + entry("a", u8x8, "[8]", "0", "8") + "," +
                                           entry("b", u8x8, "[8]", "4", "12") + "}",
                                       test::iota_bytes(12)),
                      {"'b'", "overlap", "'a'"});
  expect_format_error(make_safetensors("{" + entry("a", u8x8, "[4]", "0", "4") + "," +
                                           entry("b", u8x8, "[4]", "0", "4") + "}",
                                       test::iota_bytes(4)),
                      {"overlap"});
  // A range inside another one.
  expect_format_error(make_safetensors("{" + entry("a", u8x8, "[8]", "0", "8") + "," +
                                           entry("b", u8x8, "[0]", "3", "3") + "}",
                                       test::iota_bytes(8)),
                      {"'b'", "'a'"});
  // Gaps: before the first tensor, between two tensors; bytes after the last.
  expect_format_error(single(u8x8, "[4]", "2", "6", 6), {"'blk.0.w'", "unused"});
  expect_format_error(make_safetensors("{" + entry("a", u8x8, "[4]", "0", "4") + "," +
                                           entry("b", u8x8, "[4]", "6", "10") + "}",
                                       test::iota_bytes(10)),
                      {"'b'", "unused"});
  expect_format_error(single(u8x8, "[4]", "0", "4", 6), {"cover only 4"});
  // Out of range and reversed.
  expect_format_error(single(u8x8, "[8]", "0", "8", 4), {"'blk.0.w'", "past the data section"});
  expect_format_error(single(u8x8, "[0]", "4", "0", 4), {"'blk.0.w'", "begin after end"});
  expect_format_error(single(u8x8, "[1]", "18446744073709551614", "18446744073709551615", 4), {"'blk.0.w'"});
  expect_format_error(single(u8x8, "[0]", "18446744073709551615", "18446744073709551615", 0), {"'blk.0.w'"});
}

TEST(SafetensorsCorruption, ByteLengthDoesNotMatchTheDType) {
  expect_format_error(single("\"F32\"", "[3]", "0", "8", 8), {"'blk.0.w'", "needs 12 bytes"});
  expect_format_error(single("\"BF16\"", "[2,3]", "0", "6", 6), {"'blk.0.w'", "needs 12 bytes"});
  expect_format_error(single("\"F64\"", "[]", "0", "4", 4), {"'blk.0.w'", "needs 8 bytes"});
  expect_format_error(single("\"BOOL\"", "[2]", "0", "1", 1), {"'blk.0.w'"});
  expect_format_error(single("\"I16\"", "[0]", "0", "2", 2), {"'blk.0.w'", "needs 0 bytes"});
}

TEST(SafetensorsCorruption, InvalidJson) {
  for (const std::string& header : std::vector<std::string>{
           "", "{", "}", "{\"a\":}", "{\"a\" \"b\"}", "{} x", "{}{}", "{'a':1}", "/* c */{}", "{\"a\":NaN}",
           std::string("{\0}", 3), "{\"__metadata__\":{\"k\":\"v\"},}", "{\"a\":{\"dtype\":\"U8\",}}", "\t\n",
           "{\"a\":\"\x01\"}", "{\"a\":\"\\q\"}",
           "{\"blk\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}"}) {
    SCOPED_TRACE(header);
    expect_format_error(make_safetensors(header, test::iota_bytes(1)), {"JSON"});
  }
  for (const std::string header : {"[]", "\"s\"", "1", "null", "true"})
    expect_format_error(make_safetensors(header), {"not an object"});
  // Nesting deeper than the format has is refused before it can cost stack or memory.
  expect_format_error(make_safetensors(std::string(100000, '[')), {"deeper"});
  expect_format_error(make_safetensors("{\"a\":{\"shape\":[[[1]]]}}"), {"deeper"});
}

TEST(SafetensorsCorruption, InvalidUtf8) {
  for (const std::string bad :
       {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\x80", "\xe2\x82", "\xf4\x90\x80\x80", "\\ud800", "\\udc00x"}) {
    SCOPED_TRACE(bad);
    const std::string name = "blk" + bad;
    expect_format_error(
        make_safetensors("{" + entry(name, "\"U8\"", "[1]", "0", "1") + "}", test::iota_bytes(1)), {"JSON"});
    expect_format_error(make_safetensors("{\"__metadata__\":{\"k\":\"" + bad + "\"}}"), {"JSON"});
  }
  expect_format_error(make_safetensors("\xef\xbb\xbf{}"), {"byte-order mark"});
  // The message stays printable whatever the input held.
  const std::string message = expect_format_error(make_safetensors("{\"\xff\xfe\":1}"), {"JSON"});
  for (const char c : message) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << message;
}

TEST(SafetensorsCorruption, UnknownDType) {
  for (const std::string dtype :
       {"\"F128\"", "\"f32\"", "\"U16\"", "\"\"", "\"BF16 \"", "5", "null", "[\"F32\"]"}) {
    SCOPED_TRACE(dtype);
    expect_format_error(single(dtype, "[1]", "0", "1", 1), {"'blk.0.w'", "dtype"});
  }
}

TEST(SafetensorsCorruption, MetadataMustHoldStrings) {
  for (const std::string meta :
       {"{\"k\":1}", "{\"k\":{\"x\":\"y\"}}", "{\"k\":[\"a\"]}", "{\"k\":null}", "{\"k\":true}"}) {
    SCOPED_TRACE(meta);
    expect_format_error(make_safetensors("{\"__metadata__\":" + meta + "}"), {"__metadata__", "'k'"});
  }
  for (const std::string meta : {"[]", "\"s\"", "3"})
    expect_format_error(make_safetensors("{\"__metadata__\":" + meta + "}"), {"__metadata__"});
}

TEST(SafetensorsCorruption, MissingExtraAndMistypedFields) {
  const std::string name = "\"blk.0.w\":";
  for (const std::string body :
       {"{\"shape\":[1],\"data_offsets\":[0,1]}", "{\"dtype\":\"U8\",\"data_offsets\":[0,1]}",
        "{\"dtype\":\"U8\",\"shape\":[1]}", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":0}",
        "1", "[]", "\"U8\"", "null", "{}"}) {
    SCOPED_TRACE(body);
    expect_format_error(make_safetensors("{" + name + body + "}", test::iota_bytes(1)), {"'blk.0.w'"});
  }
  for (const std::string shape : {"3", "\"3\"", "[-1]", "[1.0]", "[\"1\"]", "[null]", "[[1]]",
                                  "[9223372036854775808]", "[18446744073709551616]", "[1,1,1,1,1,1,1,1,1]",
                                  "[4294967296,4294967296,2]", "[4611686018427387904,2]", "{}"}) {
    SCOPED_TRACE(shape);
    expect_format_error(single("\"U8\"", shape, "0", "1", 1), {"'blk.0.w'"});
  }
  expect_format_error(single("\"F32\"", "[4611686018427387904,2]", "0", "4", 4), {"'blk.0.w'", "overflows"});
  for (const std::string offsets : {"[0]", "[0,1,1]", "0", "\"0,1\"", "[-1,1]", "[0,-1]", "[0.0,1]",
                                    "[0,1e0]", "[0,18446744073709551616]", "[null,1]", "{}"}) {
    SCOPED_TRACE(offsets);
    expect_format_error(
        make_safetensors("{" + name + "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":" + offsets + "}}",
                         test::iota_bytes(1)),
        {"'blk.0.w'"});
  }
}

TEST(SafetensorsCorruption, DuplicateKeys) {
  const std::string t = entry("blk.0.w", "\"U8\"", "[1]", "0", "1");
  expect_format_error(make_safetensors("{" + t + "," + entry("blk.0.w", "\"U8\"", "[1]", "1", "2") + "}",
                                       test::iota_bytes(2)),
                      {"'blk.0.w'", "twice"});
  expect_format_error(
      make_safetensors(
          "{\"blk.0.w\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
          test::iota_bytes(1)),
      {"'dtype'"});
  expect_format_error(make_safetensors("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}"), {"'k'"});
  expect_format_error(make_safetensors("{\"__metadata__\":{},\"__metadata__\":{}}"), {"__metadata__"});
}

TEST(SafetensorsCorruption, EmptyAndTinyFiles) {
  expect_format_error({}, {"0 bytes"});
  expect_format_error(Bytes(7, 0), {"7 bytes"});
  expect_format_error(Bytes(8, 0), {"JSON"});
}

// Random byte flips of the valid file: each result parses or gives a FormatError, nothing else.
TEST(SafetensorsCorruption, RandomMutationsNeverEscapeAsOtherErrors) {
  std::mt19937 rng(1234);
  int refused = 0;
  for (int round = 0; round < 3000; ++round) {
    Bytes bytes = kValid;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) bytes[rng() % bytes.size()] = static_cast<std::uint8_t>(rng());
    try {
      test::parse(bytes);
    } catch (const FormatError&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 1000);
}

TEST(SafetensorsFuzzCorpus, EverySeedParsesOrIsRefused) {
  const auto dir = std::filesystem::path(VRAMKIT_TEST_DATA).parent_path() / "fuzz" / "corpus" / "safetensors";
  int valid = 0;
  int invalid = 0;
  for (const auto& item : std::filesystem::directory_iterator(dir)) {
    const std::string name = item.path().filename().string();
    SCOPED_TRACE(name);
    const Bytes bytes = test::read_file(item.path());
    if (name.starts_with("valid")) {
      EXPECT_NO_THROW(test::parse(bytes, name));
      ++valid;
    } else {
      EXPECT_TRUE(name.starts_with("invalid")) << "seed names start with valid or invalid";
      expect_format_error(bytes, {}, name);
      ++invalid;
    }
  }
  EXPECT_GE(valid, 3);
  EXPECT_GE(invalid, 3);
}

}  // namespace
}  // namespace vramkit
