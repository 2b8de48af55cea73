// Helpers shared by the safetensors tests: building files from header text and data bytes, temporary files,
// and the assertion that a buffer is refused with a FormatError naming the file (and the tensor at fault).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "vramkit/error.h"

namespace vramkit::test {

using Bytes = std::vector<std::uint8_t>;

// 8-byte little-endian length, the header text as given, then the data bytes.
inline Bytes make_safetensors(const std::string& header, const Bytes& data = {}) {
  Bytes out(8 + header.size() + data.size());
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(header.size()) >> (8 * i));
  std::copy(header.begin(), header.end(), out.begin() + 8);
  std::copy(data.begin(), data.end(), out.begin() + 8 + static_cast<std::ptrdiff_t>(header.size()));
  return out;
}

// `header` with spaces appended so that the data section starts 8-byte aligned, as writers do.
inline std::string padded(std::string header) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return header;
}

inline Bytes iota_bytes(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 7 + 1);
  return b;
}

// A fresh directory under the test temp dir, unique per test.
inline std::filesystem::path temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::path(::testing::TempDir()) /
             ("vramkit_st_" + std::string(info->test_suite_name()) + "_" + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_file(const std::filesystem::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline Bytes read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline SafetensorsHeader parse(const Bytes& bytes, const std::string& source = "test.safetensors") {
  return parse_safetensors_header(bytes, bytes.size(), source);
}

// Asserts that parsing `bytes` throws FormatError whose message names `source` and contains every one of
// `needles` (the tensor at fault, the kind of problem). Returns the message.
inline std::string expect_format_error(const Bytes& bytes, const std::vector<std::string>& needles = {},
                                       const std::string& source = "corrupt-case.safetensors") {
  try {
    parse(bytes, source);
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(source), std::string::npos) << message;
    for (const auto& needle : needles) EXPECT_NE(message.find(needle), std::string::npos) << message;
    return message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected FormatError, got " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected FormatError, the buffer of " << bytes.size() << " bytes parsed";
  return {};
}

}  // namespace vramkit::test
