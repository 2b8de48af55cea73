// Byte sizes the tests share (one definition, so that test files can be compiled together in a unity build).
#pragma once

#include <cstddef>

namespace vramkit {

inline constexpr std::size_t kMiB = std::size_t{1} << 20;

}  // namespace vramkit
