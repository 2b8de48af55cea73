#include "ops/placement.h"

#include <cstring>
#include <string>

#include "backends/accelerator_registry.h"
#include "ops/elementwise.h"
#include "ops/op_util.h"
#include "vramkit/error.h"

namespace vramkit::ops {

Tensor empty_on(Device device, const Shape& shape, DType dtype) {
  if (!device.is_accelerator()) return Tensor::empty(shape, dtype);
  return Tensor::empty(shape, dtype, accelerator_for(device).device_allocator());
}

Tensor to_device(const Tensor& t, Device device) {
  if (!t.defined()) throw ArgumentError("to_device: the tensor is undefined");
  if (t.device() == device && t.is_contiguous()) return t;
  if (!device.is_accelerator()) return to_host(t);
  if (!t.device().host_accessible() && t.device() != device)
    throw ArgumentError("to_device: " + t.str() + " cannot be copied to " + device.str() +
                        " directly; bring it to the host first (to_host)");
  if (t.device() == device) {  // a strided view on the device: made contiguous there
    Tensor out = empty_on(device, t.shape(), t.dtype());
    if (DeviceOps* ops = device_ops_for(device)) {
      ops->copy(out, t);
    } else {
      out.copy_from(t);
    }
    return out;
  }
  const Tensor src = t.contiguous();
  Tensor out = empty_on(device, t.shape(), t.dtype());
  accelerator_for(device).compute_stream().copy(out.data(), src.data(), src.nbytes());
  return out;
}

RopeTable to_device(const RopeTable& table, Device device) {
  return {table.style, to_device(table.cos, device), to_device(table.sin, device)};
}

Tensor to_device(const Tensor& t, Device device, DType dtype) {
  if (!t.defined()) throw ArgumentError("to_device: the tensor is undefined");
  if (t.dtype() == dtype) return to_device(t, device);
  if (t.device() == device) return cast(t, dtype);
  return to_device(to_host(t).to(dtype), device);
}

Tensor to_host(const Tensor& t) {
  if (!t.defined()) throw ArgumentError("to_host: the tensor is undefined");
  if (t.device().host_accessible()) {
    if (t.device().kind == DeviceKind::cpu && t.is_contiguous()) return t;
    return t.clone();  // host memory of an emulated device, copied out of its arena
  }
  Accelerator& acc = accelerator_for(t.device());
  const Tensor src = t.is_contiguous() ? t : to_device(t, t.device());
  Tensor out = Tensor::empty(t.shape(), t.dtype());
  acc.compute_stream().copy(out.data(), src.data(), src.nbytes());
  acc.compute_stream().synchronize();
  return out;
}

Device op_device(std::string_view op,
                 std::initializer_list<std::pair<std::string_view, const Tensor*>> tensors) {
  const Tensor* first = nullptr;
  for (const auto& [name, t] : tensors) {
    if (!t || !t->defined()) continue;
    if (!first) {
      first = t;
    } else if (t->device() != first->device()) {
      throw ArgumentError(std::string(op) + ": " + describe(tensors) +
                          ": the tensors are on different devices; move them with to_device / to_host first");
    }
  }
  if (!first) throw ArgumentError(std::string(op) + ": no input tensor is defined");
  return first->device();
}

DeviceOps* device_ops_for(Device device) {
  if (device.host_accessible()) return nullptr;
  DeviceOps* ops = accelerator_for(device).device_ops();
  if (!ops) throw ArgumentError("device " + device.str() + " has no kernels for the ops in this build");
  return ops;
}

Tensor place_result(const Tensor& result, Device device) {
  if (result.device() == device) return result;
  Tensor out = empty_on(device, result.shape(), result.dtype());
  out.copy_from(result);
  return out;
}

}  // namespace vramkit::ops
