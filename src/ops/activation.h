// Activation functions. Each element is computed in f32 from the exact input value (std::tanh, std::erf,
// std::exp) and rounded once to the output dtype, as PyTorch does for bf16 / f16 tensors.
// Dtypes: f32 / bf16 / f16; the result has x's (or gate's) dtype. Any strides.
#pragma once

#include "core/tensor.h"

namespace vramkit::ops {

enum class GeluApproximation {
  none,  // 0.5·x·(1 + erf(x / √2))            (nn.GELU(), approximate="none")
  tanh,  // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))   (approximate="tanh": the Qwen-Image DiT MLP)
};

Tensor gelu(const Tensor& x, GeluApproximation approximation);

// gelu written over x itself, with gelu's bits: for a large activation that nothing else reads (the DiT
// MLP's hidden layer), so that it exists once. x must be contiguous (ArgumentError otherwise); the caller
// guarantees that no other tensor views its storage, or that those views expect it overwritten.
void gelu_in_place(const Tensor& x, GeluApproximation approximation);

// x · sigmoid(x) = x / (1 + exp(-x)).
Tensor silu(const Tensor& x);

// SwiGLU gating of the Qwen2.5 MLP: silu(gate) · up. gate and up broadcast numpy-style; result in gate's
// dtype.
Tensor swiglu(const Tensor& gate, const Tensor& up);

// The same on a fused projection: x [..., 2F] holds gate in x[..., :F] and up in x[..., F:] (the output of
// one linear whose weight is the gate_proj rows followed by the up_proj rows) -> [..., F].
Tensor swiglu(const Tensor& gate_up);

}  // namespace vramkit::ops
