// The ops on a CUDA device (ops/device_ops.h): each method turns its op's arguments (any strides, mixed
// dtypes) into the raw contiguous buffers the launchers of src/ops/cuda take, allocates its result and any
// scratch from the accelerator's arena and launches on the compute stream without synchronizing (but for
// embedding, which reads back whether an id was out of range). Owned by the CUDA accelerator.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "ops/cuda/attention_cudnn.h"
#include "ops/cuda/gemm_cuda.h"
#include "ops/device_ops.h"

namespace vramkit::cuda {

class CudaDeviceOps final : public ops::DeviceOps {
 public:
  // Launches on `stream` of CUDA device `device_index`, allocates from `allocator` (the device arena).
  // Creates the GEMM context on that device; cuBLASLt's and cuDNN's workspaces come from the arena too, per
  // launch (library_workspace.h). `max_scratch_bytes` bounds the scratch one op takes beside its result
  // (ops::kDeviceScratchBytes; tests pass less to exercise the splitting): each op needs at least one query
  // row's scores or one output pixel's columns, even above it.
  CudaDeviceOps(int device_index, cudaStream_t stream, std::shared_ptr<Allocator> allocator,
                std::size_t max_scratch_bytes = ops::kDeviceScratchBytes);
  ~CudaDeviceOps() override;

  void copy(const Tensor& dst, const Tensor& src) override;
  Tensor concat(std::span<const Tensor> tensors, int dim) override;

  Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& scale) override;
  Tensor fp8_linear(const Tensor& x, const Tensor& weight, const Tensor& weight_scale,
                    const Tensor& bias) override;
  Tensor matmul(const Tensor& a, const Tensor& b) override;

  Tensor gelu(const Tensor& x, ops::GeluApproximation approximation) override;
  void gelu_in_place(const Tensor& x, ops::GeluApproximation approximation) override;
  Tensor silu(const Tensor& x) override;
  Tensor binary(ops::BinaryKind kind, const Tensor& a, const Tensor& b) override;
  Tensor ternary(ops::TernaryKind kind, const Tensor& x, const Tensor& b, const Tensor& c) override;
  Tensor scale(const Tensor& x, float s) override;
  Tensor clamp(const Tensor& x, float lo, float hi) override;

  Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) override;
  Tensor layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale, float eps) override;
  Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) override;
  Tensor channel_rms_norm(const Tensor& x, const Tensor& gamma, const Tensor& bias, float eps) override;

  Tensor apply_rope(const Tensor& x, const ops::RopeTable& table) override;
  Tensor embedding(const Tensor& indices, const Tensor& table) override;
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v,
                   const ops::AttentionOptions& options) override;
  Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                const ops::Conv2dParams& params) override;

 private:
  Tensor empty(const Shape& shape, DType dtype) const;
  // The scratch an op may take: max_scratch_bytes, whatever the arena holds (so that its pieces, hence its
  // GEMMs and their summation orders, are the same in every memory mode).
  std::size_t scratch_budget() const;
  // t itself when it is contiguous and its first element 16-byte aligned (what cuBLASLt's fast algorithms and
  // the vector loads want), else a contiguous copy in the arena; `dtype` converts on the way (as copy does:
  // f32 / bf16 / f16 / fp8).
  Tensor dense(const Tensor& t);
  Tensor dense(const Tensor& t, DType dtype);
  // t broadcast to `shape` (numpy rules) as a new contiguous tensor of `dtype` (f32 / bf16 / f16).
  Tensor materialize(const Tensor& t, const Shape& shape, DType dtype);
  // attention for the head sizes and dtypes the fused kernel does not take: blocks of query rows through two
  // GEMMs and a softmax, in f32.
  Tensor attention_by_gemm(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_valid,
                           bool causal, float scale);
  // attention with key lengths: every sequence through cuDNN's unmasked kernel over its valid keys; undefined
  // where cuDNN does not take them all.
  Tensor attention_by_lengths(const Tensor& q, const Tensor& k, const Tensor& v,
                              const std::vector<std::int64_t>& key_lengths, bool causal, float scale);
  // cuDNN's fused attention, created on first use; null when cuDNN cannot start here (logged once), in which
  // case our fused kernel serves every request.
  CudnnAttention* cudnn();

  // The fp8_linear shapes that fell back to dequantize + GEMM (each warned about once).
  std::set<std::string> fp8_fallbacks_;
  int device_index_;
  cudaStream_t stream_;
  std::shared_ptr<Allocator> allocator_;
  std::size_t max_scratch_bytes_;
  std::unique_ptr<GemmContext> gemm_;
  std::unique_ptr<CudnnAttention> cudnn_;
  bool cudnn_tried_ = false;
};

}  // namespace vramkit::cuda
