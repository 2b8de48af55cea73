// Where an op runs, and moving tensors between the host and an accelerator.
//
// An op runs on the one device of its tensors: mixing devices (a host tensor with an emulated or CUDA one) is
// an error rather than a hidden copy, so that a model's host <-> device traffic is only what it asks for with
// to_device / to_host at its boundaries. The rule holds on the emulated device too, although the CPU could
// read both there: that is what lets CI catch a model that would read host memory from a CUDA kernel.
//
// Results are on the op's device: in its accelerator's arena (so activations count against the VRAM budget),
// or host memory on the cpu.
#pragma once

#include <initializer_list>
#include <string_view>
#include <utility>

#include "core/tensor.h"
#include "ops/device_ops.h"

namespace vramkit::ops {

// A contiguous copy of t on `device` (t itself when it is already there and contiguous). Host -> accelerator
// copies are ordered on the accelerator's compute stream; the host source may be freed on return.
// ArgumentError when no accelerator is open for `device`.
Tensor to_device(const Tensor& t, Device device);
// The table's cos and sin on `device`.
RopeTable to_device(const RopeTable& table, Device device);
// t converted to `dtype` on `device`: a host tensor is converted on the host before the copy (fewer bytes
// to move when narrowing), a tensor already on `device` with ops::cast.
Tensor to_device(const Tensor& t, Device device, DType dtype);
// A contiguous host copy of t (t itself when it is on the cpu and contiguous). Waits for t's device's
// compute stream to reach the copy, so every kernel that produced t has finished.
Tensor to_host(const Tensor& t);

// The device an op's defined tensors share. ArgumentError naming the op and every tensor when they differ or
// none is defined.
Device op_device(std::string_view op,
                 std::initializer_list<std::pair<std::string_view, const Tensor*>> tensors);
// The DeviceOps serving `device` when the CPU cannot read its memory, else null (the CPU kernels run). For a
// CUDA device without an open accelerator: ArgumentError naming it.
DeviceOps* device_ops_for(Device device);
// A CPU kernel's host result as the op's result on `device`: itself on the cpu; on the emulated device a copy
// in its arena.
Tensor place_result(const Tensor& result, Device device);
// An uninitialized contiguous tensor on `device` (its accelerator's arena, or host memory on the cpu).
Tensor empty_on(Device device, const Shape& shape, DType dtype);

}  // namespace vramkit::ops
