// upsample_nearest_2x: validation and dispatch. The output, viewed as [..., H, 2, W, 2], is a strided copy of
// x with zero strides on the two repeat axes (cpu/layout.cpp's threaded copy kernel, or the device's copy).
#include "ops/upsample.h"

#include "ops/cpu/layout.h"
#include "ops/op_util.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::ops {

Tensor upsample_nearest_2x(const Tensor& x) {
  constexpr const char* kOp = "upsample_nearest_2x";
  check_defined(kOp, "x", x);
  if (x.rank() < 2 || x.rank() + 2 > kMaxRank)
    throw ShapeError(std::string(kOp) + ": x " + x.str() + " must have rank 2 to " +
                     std::to_string(kMaxRank - 2));
  const int r = x.rank();
  Shape out_shape, view, src_strides;
  for (int d = 0; d < r - 2; ++d) {
    out_shape.push_back(x.size(d));
    view.push_back(x.size(d));
    src_strides.push_back(x.stride(d));
  }
  const std::int64_t h = x.size(r - 2), w = x.size(r - 1);
  out_shape.push_back(2 * h);
  out_shape.push_back(2 * w);
  for (std::int64_t s : {h, std::int64_t{2}, w, std::int64_t{2}}) view.push_back(s);
  for (std::int64_t s : {x.stride(r - 2), std::int64_t{0}, x.stride(r - 1), std::int64_t{0}})
    src_strides.push_back(s);
  Tensor out = empty_on(x.device(), out_shape, x.dtype());
  if (DeviceOps* d = device_ops_for(x.device())) {
    d->copy(out.reshape(view), x.unsqueeze(-1).unsqueeze(-3).expand(view));
    return out;
  }
  cpu::copy_strided(x.data(), src_strides, out.data(), contiguous_strides(view), view, x.element_size());
  return out;
}

}  // namespace vramkit::ops
