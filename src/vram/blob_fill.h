// Filling a unit's packed buffers on the host: from the memory-mapped checkpoint with conversion to the
// layout's dtypes (fp8 quantization with per-row scales where the layout says so), or raw from disk with pread
// (the disk tier: the layout then holds the file's dtypes).
#pragma once

#include "io/model_files.h"
#include "vram/unit_layout.h"

namespace vramkit {

// Writes every tensor of `unit` into `dst` (blob.bytes bytes) as `blob` lays it out, converting from the files.
void fill_blob_from_files(const UnitLayout& unit, const BlobLayout& blob, const WeightFiles& files, void* dst);

// Reads every tensor of `unit` into `dst` with pread; `blob` must hold each tensor in its file dtype.
// Returns the bytes read. Throws IoError naming the file and tensor on a short read.
std::uint64_t read_blob_from_disk(const UnitLayout& unit, const BlobLayout& blob, const WeightFiles& files, void* dst);

}  // namespace vramkit
