// libFuzzer target for the safetensors header parser: the input is a whole file. Every input must either
// parse or throw vramkit::FormatError; anything else (another exception, a crash, an out-of-bounds read that
// AddressSanitizer sees) is a finding. On success every entry is touched: its fields, its bytes in the
// buffer, and the lookup by name, so that a range the parser wrongly accepted shows up as an out-of-bounds
// read.
#include <cstddef>
#include <cstdint>
#include <span>

#include "io/safetensors.h"
#include "vramkit/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  vramkit::SafetensorsHeader header;
  try {
    header = vramkit::parse_safetensors_header(bytes, size, "fuzz-input");
  } catch (const vramkit::FormatError&) {
    return 0;
  }
  unsigned checksum = 0;
  for (const auto& e : header.entries) {
    if (e.begin > e.end || header.data_offset + e.end > size) __builtin_trap();
    if (static_cast<std::uint64_t>(e.shape.numel()) * vramkit::dtype_size(e.dtype) != e.bytes())
      __builtin_trap();
    if (header.find(e.name) != &e) __builtin_trap();
    for (std::uint64_t i = header.data_offset + e.begin; i < header.data_offset + e.end; ++i)
      checksum += data[i];
  }
  for (const auto& [key, value] : header.metadata)
    checksum += static_cast<unsigned>(key.size() + value.size());
  // Keeps the reads above from being optimized away.
  asm volatile("" : : "r"(checksum));
  return 0;
}
