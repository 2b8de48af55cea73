// An 8-bit image as the pipeline returns it, and PNG files with text metadata (the generation parameters,
// as other generators store them).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace vramkit {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 3;                   // 3 = RGB, 4 = RGBA, 1 = gray
  std::vector<std::uint8_t> pixels;   // row-major, channels interleaved, height · width · channels bytes
};

using PngText = std::vector<std::pair<std::string, std::string>>;  // keyword (Latin-1, 1-79 chars), UTF-8 text

// Writes `image` as a PNG with the text chunks (tEXt when the text is ASCII, iTXt otherwise), through a
// temporary file renamed over `path` at the end, so a failed write never leaves a partial PNG.
// ArgumentError for an inconsistent image or an invalid keyword, IoError when the file cannot be written.
void write_png(const std::filesystem::path& path, const Image& image, const PngText& text = {});

// Reads a PNG as 8-bit RGB/RGBA/gray (palette and 16-bit images are converted) with its text chunks.
// FormatError naming the file for a corrupt or truncated PNG, IoError when it cannot be opened.
Image read_png(const std::filesystem::path& path, PngText* text = nullptr);

}  // namespace vramkit
