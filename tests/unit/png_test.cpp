// PNG writing and reading through libpng: pixels and text chunks round-trip exactly (ASCII in tEXt, UTF-8 in
// iTXt); bad images, truncated files and unwritable paths are clear errors that leave no partial file.
#include <gtest/gtest.h>

#include <fstream>

#include "vramkit/error.h"
#include "vramkit/image.h"

namespace vramkit {
namespace {

class PngTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("vramkit_png_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static Image gradient(int width, int height, int channels) {
    Image image{width, height, channels, {}};
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x)
        for (int c = 0; c < channels; ++c) image.pixels.push_back(static_cast<std::uint8_t>((x * 7 + y * 13 + c * 101) % 256));
    return image;
  }

  std::filesystem::path dir_;
};

TEST_F(PngTest, PixelsAndTextRoundTrip) {
  for (const int channels : {1, 3, 4}) {
    const Image image = gradient(37, 19, channels);
    const PngText text{{"parameters", "a cat, Steps: 30, CFG scale: 4, Seed: 42"},
                       {"prompt", "一只猫 on a skateboard 🛹"}};
    const auto path = dir_ / ("image" + std::to_string(channels) + ".png");
    write_png(path, image, text);
    PngText read_text;
    const Image back = read_png(path, &read_text);
    EXPECT_EQ(back.width, 37);
    EXPECT_EQ(back.height, 19);
    EXPECT_EQ(back.channels, channels);
    EXPECT_EQ(back.pixels, image.pixels);
    EXPECT_EQ(read_text, text);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "image3.png.partial"));
}

TEST_F(PngTest, BadImagesAndKeywordsAreArgumentErrors) {
  Image short_pixels = gradient(4, 4, 3);
  short_pixels.pixels.pop_back();
  EXPECT_THROW(write_png(dir_ / "a.png", short_pixels), ArgumentError);
  EXPECT_THROW(write_png(dir_ / "a.png", gradient(4, 4, 2)), ArgumentError);
  EXPECT_THROW(write_png(dir_ / "a.png", gradient(4, 4, 3), {{"", "x"}}), ArgumentError);
  EXPECT_THROW(write_png(dir_ / "a.png", gradient(4, 4, 3), {{std::string(80, 'k'), "x"}}), ArgumentError);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "a.png"));
}

TEST_F(PngTest, UnwritablePathIsAnIoErrorNamingIt) {
  try {
    write_png(dir_ / "missing-folder" / "out.png", gradient(2, 2, 3));
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("missing-folder/out.png"), std::string::npos) << e.what();
  }
}

TEST_F(PngTest, TruncatedAndForeignFilesAreFormatErrors) {
  const auto path = dir_ / "full.png";
  write_png(path, gradient(64, 64, 3));
  const auto size = std::filesystem::file_size(path);
  for (const std::uintmax_t keep : {std::uintmax_t{0}, std::uintmax_t{8}, std::uintmax_t{40}, size / 2, size - 13}) {
    const auto cut = dir_ / "cut.png";
    std::filesystem::copy_file(path, cut, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(cut, keep);
    EXPECT_THROW(read_png(cut), FormatError) << "kept " << keep << " bytes";
  }
  std::ofstream(dir_ / "text.png") << "not a png at all";
  EXPECT_THROW(read_png(dir_ / "text.png"), FormatError);
  EXPECT_THROW(read_png(dir_ / "absent.png"), IoError);
}

}  // namespace
}  // namespace vramkit
