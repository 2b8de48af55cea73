// Byte counts for people: "812 B", "12.00 KiB", "3.50 GiB" (binary units, two decimals).
#pragma once

#include <cstdint>
#include <string>

namespace vramkit {

std::string human_bytes(std::uint64_t bytes);

}  // namespace vramkit
