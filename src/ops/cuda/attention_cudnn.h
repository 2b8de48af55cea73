// cuDNN's fused flash attention (the SDPA forward graph of the cuDNN 9 backend API) behind the contract of
// ops/attention.h, beside our own kernels (attention_cuda.h), which remain the fallback and the reference.
//
// What cuDNN is given (attention_cudnn.cpp has the graph):
//   - q, k, v and out in our [B, L, H, D] layout, described to cuDNN as [B, H, L, D] tensors through strides
//     (no copy); grouped-query heads as K/V tensors with fewer heads;
//   - the causal mask as index comparisons in the graph: row >= col when Lq == Lk, row + Lk - Lq >= col
//     (bottom-right) when Lq < Lk; when Lq > Lk the first Lq - Lk query rows see no key, so only the last Lk
//     rows (a pointer offset into q and out) go to cuDNN as a square problem and the others are zeroed;
//   - the key padding mask (B·Lk bytes, any pattern: left padding, holes) as an additive bias [B, 1, 1, Lk]
//     of 0 / -30720 (finite on purpose: kMaskedKeyBias) built on the stream by a small kernel
//     (attention_cudnn_masks_cuda.h);
//   - rows with no allowed key (an all-padding batch element, causal + padding) are overwritten with zeros
//     after cuDNN, whatever cuDNN left there.
// What it is not given (supports() says no, the caller uses launch_attention): dtypes other than bf16 / f16,
// head_dim not a multiple of 8 or above 128, GPUs below sm_80, the causal mask with a key padding mask when
// Lq < Lk (cuDNN's bottom-right causal mask does not combine with a bias), empty sizes, and any graph for
// which cuDNN finds no engine.
// Precision: bf16 / f16 inputs, f32 scores, softmax and accumulation; the probabilities are rounded to the
// input dtype before P·V (as in our tensor-core kernel).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/allocator.h"
#include "core/dtype.h"
#include "ops/cpu/attention.h"

namespace vramkit::cuda {

// Compiled attention plans a CudnnAttention keeps (the most recently used, refusals included): a generation
// runs a handful of attention shapes (the text encoder's per prompt length, the transformer's, the VAE's per
// tile size); the bound stops a long-running process that sees many prompt lengths from keeping a compiled
// kernel for each.
inline constexpr std::size_t kMaxCudnnPlans = 32;

// One cuDNN handle (its stream set per run), the cache of finalized execution plans (one per dtype, B, Hq,
// Hkv, Lq, Lk, D, causal and key mask presence; the scale is passed by value at each run, so it is not part
// of a plan; at most max_plans, the least recently used dropped first, after a wait for the stream of the
// runs when it is a plan, since the plan owns its compiled kernel). A run takes the memory its plan needs,
// the workspace and the key padding bias, from `arena` for its duration (library_workspace.h), so that it
// counts in the VRAM budget; an object made without an arena keeps its own cudaMalloc buffers. Plans whose
// workspace exceeds ops::kLibraryWorkspaceBytes are refused. Runs through one object must be ordered (one
// stream): one object per stream, not thread-safe.
class CudnnAttention {
 public:
  // Creates the cuDNN handle on the current device. Throws CudaError (naming cudnnCreate and cuDNN's status)
  // when cuDNN cannot start: no device, no driver, library missing.
  explicit CudnnAttention(std::shared_ptr<Allocator> arena = nullptr, std::size_t max_plans = kMaxCudnnPlans);
  ~CudnnAttention();
  CudnnAttention(const CudnnAttention&) = delete;
  CudnnAttention& operator=(const CudnnAttention&) = delete;

  // True when run() takes this request (see the file comment); else false, with the reason in *reason when
  // given. Builds the plan the first time a shape is seen and caches it, the refusal too: the first call per
  // shape can take seconds (cuDNN compiles the kernel at run time with NVRTC), later ones are a map lookup.
  bool supports(DType dtype, const ops::cpu::AttentionDims& dims, bool key_mask, bool causal,
                std::string* reason = nullptr);

  // Enqueues out = attention(q, k, v) on `stream`, with the arguments of launch_attention (attention_cuda.h):
  // q [B, Lq, Hq, D], k and v [B, Lk, Hkv, D], out [B, Lq, Hq, D], contiguous, of `dtype`, in device memory,
  // each 16-byte aligned; key_valid null or B·Lk bytes in device memory (non-zero = valid); scale multiplies
  // q·k. Throws ArgumentError when supports() says no (with its reason) or a pointer is misaligned, CudaError
  // when a cuDNN or CUDA call fails (naming the call and cuDNN's status and message).
  void run(const void* q, const void* k, const void* v, void* out, DType dtype,
           const ops::cpu::AttentionDims& dims, const std::uint8_t* key_valid, bool causal, float scale,
           cudaStream_t stream);

  // Plans kept (refusals not counted).
  std::size_t cached_plans() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vramkit::cuda
