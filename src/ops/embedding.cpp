#include "ops/embedding.h"

#include <string>
#include <vector>

#include "ops/cpu/embedding.h"
#include "ops/op_util.h"
#include "ops/placement.h"
#include "vramkit/error.h"

namespace vramkit::ops {

Tensor embedding(const Tensor& indices, const Tensor& table) {
  constexpr const char* kOp = "embedding";
  check_defined(kOp, "indices", indices);
  check_defined(kOp, "table", table);
  const Device device = op_device(kOp, {{"indices", &indices}, {"table", &table}});
  check_dtype(kOp, "indices", indices, {DType::i32, DType::i64});
  check_dtype(kOp, "table", table, {DType::f32, DType::f16, DType::bf16, DType::f8_e4m3fn, DType::f8_e5m2});
  check_rank(kOp, "table", table, 2);
  if (DeviceOps* d = device_ops_for(device)) return d->embedding(indices, table);
  const std::int64_t vocab = table.size(0), dim = table.size(1);
  // Indices are validated, all of them, before any row is copied.
  const Tensor idx = indices.to(DType::i64);
  const auto* rows = idx.data_as<std::int64_t>();
  for (std::int64_t i = 0; i < idx.numel(); ++i)
    if (rows[i] < 0 || rows[i] >= vocab)
      throw ArgumentError(std::string(kOp) + ": " + describe({{"indices", &indices}, {"table", &table}}) +
                          ": index " + std::to_string(rows[i]) + " (element " + std::to_string(i) +
                          ") is outside [0, " + std::to_string(vocab) + ")");
  Shape out_shape = indices.shape();
  out_shape.push_back(dim);
  Tensor out = empty_on(device, out_shape, table.dtype());
  if (out.numel() > 0)
    cpu::gather_rows(table.data(), table.dtype(), table.stride(0), table.stride(1), dim, rows, idx.numel(),
                     out.data());
  return out;
}

}  // namespace vramkit::ops
