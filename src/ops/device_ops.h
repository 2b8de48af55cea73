// The ops on a device whose memory the CPU cannot read (CUDA). Each ops::<op> (ops/<op>.h) validates its
// arguments and finds their common device; host-accessible tensors (cpu, emu) run the CPU kernels, tensors of
// another device go to that device's DeviceOps (Accelerator::device_ops()), which computes the same contract
// there. So every method below receives arguments already checked against its op's header: shapes, dtypes and
// ranks agree, every defined tensor is on this device, and results are the op's documented results.
//
// Implementations allocate their outputs (and any scratch) from their accelerator's device arena and enqueue
// the work on its compute stream, without synchronizing: a result may be used by later work on that stream at
// once, and read on the host through ops::to_host. Freeing a tensor whose kernels are still in flight is safe
// because only compute-stream work allocates during a forward (the VRAM manager takes its buffers at onload),
// and the compute stream runs in order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/device_scratch.h"
#include "ops/rope.h"

namespace vramkit::ops {

enum class BinaryKind {
  add,     // a + b
  mul,     // a · b
  swiglu,  // silu(a) · b (a = gate, b = up)
};

enum class TernaryKind {
  modulate,        // x · (1 + c) + b   (x, shift, scale: ops::modulate's order)
  gated_residual,  // x + b · c         (x, gate, y)
};

class DeviceOps {
 public:
  virtual ~DeviceOps() = default;

  // dst = src converted to dst's dtype: same shape; src any strides (0 included: broadcast reads); dst
  // contiguous. Any dtype pair Tensor::to supports between f32 / bf16 / f16, and equal dtypes of any kind.
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  // Joins same-dtype, same-rank tensors along dim (normalized, 0 <= dim < rank) into a new contiguous tensor.
  virtual Tensor concat(std::span<const Tensor> tensors, int dim) = 0;

  virtual Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& scale) = 0;
  virtual Tensor fp8_linear(const Tensor& x, const Tensor& weight, const Tensor& weight_scale,
                            const Tensor& bias) = 0;
  virtual Tensor matmul(const Tensor& a, const Tensor& b) = 0;

  virtual Tensor gelu(const Tensor& x, GeluApproximation approximation) = 0;
  // ops::gelu_in_place: x is contiguous.
  virtual void gelu_in_place(const Tensor& x, GeluApproximation approximation) = 0;
  virtual Tensor silu(const Tensor& x) = 0;
  // Result of the broadcast shape in a's dtype.
  virtual Tensor binary(BinaryKind kind, const Tensor& a, const Tensor& b) = 0;
  virtual Tensor ternary(TernaryKind kind, const Tensor& x, const Tensor& b, const Tensor& c) = 0;
  virtual Tensor scale(const Tensor& x, float s) = 0;
  virtual Tensor clamp(const Tensor& x, float lo, float hi) = 0;

  virtual Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) = 0;
  // ops::layer_norm_modulate in one pass, with the two ops' bits; undefined where this device does not fuse
  // these operands (then ops::layer_norm_modulate runs layer_norm and ternary).
  virtual Tensor layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale, float eps) {
    (void)x, (void)shift, (void)scale, (void)eps;
    return Tensor();
  }
  virtual Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) = 0;
  virtual Tensor channel_rms_norm(const Tensor& x, const Tensor& gamma, const Tensor& bias, float eps) = 0;

  virtual Tensor apply_rope(const Tensor& x, const RopeTable& table) = 0;
  virtual Tensor embedding(const Tensor& indices, const Tensor& table) = 0;
  // Any head_dim (the VAE's single head is 384 wide), any strides.
  virtual Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v,
                           const AttentionOptions& options) = 0;
  virtual Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Conv2dParams& params) = 0;
};

}  // namespace vramkit::ops
