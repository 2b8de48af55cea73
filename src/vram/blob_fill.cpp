#include "vram/blob_fill.h"

#include <cstring>

#include "core/convert.h"
#include "vram/fp8_scaling.h"

namespace vramkit {

void fill_blob_from_files(const UnitLayout& unit, const BlobLayout& blob, const WeightFiles& files, void* dst) {
  auto* out = static_cast<char*>(dst);
  for (std::size_t i = 0; i < unit.sources.size(); ++i) {
    const WeightTensor& t = *unit.sources[i];
    const BlobTensor& b = blob.tensors[i];
    const Tensor view = files.view(t.name());
    if (b.scaled) {
      quantize_fp8_rows(view.data(), t.dtype(), b.rows, b.cols, out + b.offset, b.dtype, Fp8Scaling::per_channel,
                        reinterpret_cast<float*>(out + b.scale_offset));
    } else {
      convert(view.data(), t.dtype(), out + b.offset, b.dtype, b.rows * b.cols);
    }
  }
}

}  // namespace vramkit
