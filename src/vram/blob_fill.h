// Filling a unit's packed buffers on the host from the memory-mapped checkpoint, with conversion to the
// layout's dtypes (fp8 quantization with per-row scales where the layout says so). The disk tier reads with
// its own plan instead (vram/disk_reads.h).
#pragma once

#include "io/model_files.h"
#include "vram/unit_layout.h"

namespace vramkit {

// Writes every tensor of `unit` into `dst` (blob.bytes bytes) as `blob` lays it out, converting from the files.
void fill_blob_from_files(const UnitLayout& unit, const BlobLayout& blob, const WeightFiles& files, void* dst);

}  // namespace vramkit
