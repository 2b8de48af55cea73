// PNG through libpng's classic API. libpng reports errors by longjmp; every function that calls it keeps only
// trivially destructible locals between setjmp and the calls (C++ objects live in the caller), and turns the
// jump into an error code that the caller converts to an exception.
#include <png.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "vramkit/error.h"
#include "vramkit/image.h"

namespace vramkit {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

bool is_ascii(const std::string& s) {
  for (const unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// The libpng error message of the last failure, kept by the error callback before it jumps.
struct ErrorState {
  char message[256] = "";
};

void on_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<ErrorState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

// Returns false (with state.message set) when libpng failed.
bool write_with_libpng(std::FILE* file, const Image& image, png_text* texts, int text_count,
                       png_bytep* rows, ErrorState& state) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, on_error, on_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    return false;
  }
  png_init_io(png, file);
  const int color = image.channels == 4 ? PNG_COLOR_TYPE_RGBA : image.channels == 3 ? PNG_COLOR_TYPE_RGB
                                                                                      : PNG_COLOR_TYPE_GRAY;
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width), static_cast<png_uint_32>(image.height), 8,
               color, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (text_count > 0) png_set_text(png, info, texts, text_count);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}

struct ReadResult {
  png_uint_32 width = 0, height = 0;
  int channels = 0;
};

// Two passes: header (rows == nullptr: fills `result`), then pixels into `rows`. Returns false on failure.
bool read_with_libpng(std::FILE* file, ReadResult& result, std::vector<png_bytep>* rows, PngText* text,
                      ErrorState& state) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, on_error, on_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    return false;
  }
  png_init_io(png, file);
  png_read_info(png, info);
  png_set_expand(png);  // palette -> RGB, gray < 8 bit -> 8 bit, tRNS -> alpha
  png_set_strip_16(png);
  png_read_update_info(png, info);
  result.width = png_get_image_width(png, info);
  result.height = png_get_image_height(png, info);
  result.channels = png_get_channels(png, info);
  if (rows) {
    png_read_image(png, rows->data());
    png_read_end(png, info);
    png_textp texts = nullptr;
    int count = 0;
    png_get_text(png, info, &texts, &count);
    for (int i = 0; text && i < count; ++i)
      text->emplace_back(texts[i].key, std::string(texts[i].text, texts[i].itxt_length ? texts[i].itxt_length
                                                                                        : texts[i].text_length));
  }
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

}  // namespace

void write_png(const std::filesystem::path& path, const Image& image, const PngText& text) {
  if (image.width <= 0 || image.height <= 0 || (image.channels != 1 && image.channels != 3 && image.channels != 4) ||
      image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * image.channels)
    throw ArgumentError("PNG " + path.string() + ": the image is " + std::to_string(image.width) + "x" +
                        std::to_string(image.height) + "x" + std::to_string(image.channels) + " with " +
                        std::to_string(image.pixels.size()) + " bytes of pixels");
  std::vector<png_text> texts(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto& [key, value] = text[i];
    if (key.empty() || key.size() > 79 || !is_ascii(key))
      throw ArgumentError("PNG " + path.string() + ": invalid text keyword '" + key + "' (1-79 ASCII characters)");
    std::memset(&texts[i], 0, sizeof texts[i]);
    texts[i].compression = is_ascii(value) ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
    texts[i].key = const_cast<char*>(key.c_str());
    texts[i].text = const_cast<char*>(value.c_str());
    texts[i].text_length = is_ascii(value) ? value.size() : 0;
    texts[i].itxt_length = is_ascii(value) ? 0 : value.size();
  }
  std::vector<png_bytep> rows(static_cast<std::size_t>(image.height));
  const std::size_t stride = static_cast<std::size_t>(image.width) * image.channels;
  for (std::size_t y = 0; y < rows.size(); ++y) rows[y] = const_cast<png_bytep>(image.pixels.data() + y * stride);

  const std::filesystem::path temp = path.string() + ".partial";
  ErrorState state;
  bool ok = false;
  {
    File file(std::fopen(temp.c_str(), "wb"));
    if (!file) throw IoError("cannot write PNG " + path.string() + ": " + std::strerror(errno));
    ok = write_with_libpng(file.get(), image, texts.data(), static_cast<int>(texts.size()), rows.data(), state);
    ok = std::fflush(file.get()) == 0 && ok;
  }
  std::error_code ec;
  if (ok) std::filesystem::rename(temp, path, ec);
  if (!ok || ec) {
    std::filesystem::remove(temp, ec);
    throw IoError("cannot write PNG " + path.string() + (state.message[0] ? std::string(": ") + state.message : ""));
  }
}

Image read_png(const std::filesystem::path& path, PngText* text) {
  File file(std::fopen(path.c_str(), "rb"));
  if (!file) throw IoError("cannot open PNG " + path.string() + ": " + std::strerror(errno));
  ErrorState state;
  ReadResult header;
  if (!read_with_libpng(file.get(), header, nullptr, nullptr, state))
    throw FormatError(path.string() + ": not a valid PNG (" + state.message + ")");
  Image image;
  image.width = static_cast<int>(header.width);
  image.height = static_cast<int>(header.height);
  image.channels = header.channels;
  image.pixels.resize(static_cast<std::size_t>(header.width) * header.height * header.channels);
  std::vector<png_bytep> rows(header.height);
  for (std::size_t y = 0; y < rows.size(); ++y)
    rows[y] = image.pixels.data() + y * static_cast<std::size_t>(header.width) * header.channels;
  std::rewind(file.get());
  PngText texts;
  if (!read_with_libpng(file.get(), header, &rows, &texts, state))
    throw FormatError(path.string() + ": corrupt or truncated PNG (" + state.message + ")");
  if (text) *text = std::move(texts);
  return image;
}

}  // namespace vramkit
