// cuDNN fused flash attention through the cuDNN 9 backend graph API (host code only: the kernel is NVIDIA's,
// compiled by cuDNN at plan time). The graph is the SDPA forward pattern that cuDNN's fused attention engine
// recognizes (the one NVIDIA's cudnn-frontend lowers its SDPA node to for cuDNN 9.x before 9.21), with our
// [B, L, H, D] tensors described as [B, H, L, D] through strides:
//   S  = matmul(Q [B,Hq,Lq,D], Kᵀ [B,Hkv,D,Lk])          f32 scores [B,Hq,Lq,Lk] (virtual)
//   S *= scale                                             by-value f32 scalar
//   S += bias [B,1,1,Lk]                                   key padding mask only: 0 / -30720 (bf16 / f16)
//   S  = select(S, -inf, row (+ Lk - Lq) >= col)           causal only: GEN_INDEX rows and columns (int32),
//                                                          the shift by-value int32 scalars when Lq < Lk
//   softmax: M = max_col S; E = exp(S - M); Z = Σ_col E; stats = M + log Z (virtual); P = E / Z (input dtype)
//   O  = matmul(P, V [B,Hkv,Lk,D])                         written to out through strides
// Every virtual tensor is f32 except the masks (int32 indices, boolean comparison) and P, which cuDNN
// requires in the input dtype. Plans: the heuristic's engine configs (mode A, then the fallback list) are
// tried in order and the first that finalizes is kept, with every descriptor it references.
#include "ops/cuda/attention_cudnn.h"

#include <cudnn_graph.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_device.h"
#include "core/lru_cache.h"
#include "ops/cuda/attention_cudnn_masks_cuda.h"
#include "ops/cuda/library_workspace.h"
#include "ops/device_scratch.h"
#include "vramkit/error.h"

namespace vramkit::cuda {
namespace {

// CudaError "cuDNN <status> in <call>: <cuDNN's last error message>".
[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const std::string& what, const char* file,
                                    int line) {
  std::array<char, 1024> detail{};
  cudnnGetLastErrorString(detail.data(), detail.size());
  std::string message = std::string("cuDNN ") + cudnnGetErrorString(status) + " in " + what;
  if (detail[0] != '\0') message += ": " + std::string(detail.data());
  throw CudaError(static_cast<int>(status), message, file, line);
}

#define VRAMKIT_CUDNN_CHECK_AS(expr, what)                                  \
  do {                                                                      \
    const cudnnStatus_t vramkit_cudnn_status_ = (expr);                     \
    if (vramkit_cudnn_status_ != CUDNN_STATUS_SUCCESS)                      \
      throw_cudnn_error(vramkit_cudnn_status_, (what), __FILE__, __LINE__); \
  } while (0)
#define VRAMKIT_CUDNN_CHECK(expr) VRAMKIT_CUDNN_CHECK_AS(expr, #expr)
// cudnnBackendSetAttribute naming the attribute in the error.
#define VRAMKIT_CUDNN_SET(desc, attribute, type, count, value)                                    \
  VRAMKIT_CUDNN_CHECK_AS(cudnnBackendSetAttribute((desc), (attribute), (type), (count), (value)), \
                         "cudnnBackendSetAttribute(" #attribute ")")

// Fixed unique ids of the tensors the variant pack binds; virtual tensors are numbered from kFirstVirtualUid.
enum Uid : std::int64_t {
  kUidQ = 1,
  kUidK,
  kUidV,
  kUidO,
  kUidBias,
  kUidScale,
  kUidNegativeInfinity,
  kUidKvLen,
  kUidQLen,
  kFirstVirtualUid = 100,
};

// Every tensor declares this alignment (what cudnn-frontend declares by default): run() checks it.
constexpr std::int64_t kByteAlignment = 16;

cudnnDataType_t cudnn_type(DType dt) {
  return dt == DType::bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_HALF;
}

using Dims = std::array<std::int64_t, 4>;

// Owns backend descriptors, destroyed in reverse order of creation (a plan references the graph's
// descriptors, so they live as long as the plan).
class Descriptors {
 public:
  Descriptors() = default;
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
  ~Descriptors() {
    for (auto it = owned_.rbegin(); it != owned_.rend(); ++it) cudnnBackendDestroyDescriptor(*it);
  }

  cudnnBackendDescriptor_t create(cudnnBackendDescriptorType_t type) {
    cudnnBackendDescriptor_t d = nullptr;
    VRAMKIT_CUDNN_CHECK(cudnnBackendCreateDescriptor(type, &d));
    owned_.push_back(d);
    return d;
  }
  // Takes ownership of a descriptor created elsewhere.
  void adopt(cudnnBackendDescriptor_t d) { owned_.push_back(d); }

 private:
  std::vector<cudnnBackendDescriptor_t> owned_;
};

void finalize(cudnnBackendDescriptor_t d, const char* what) {
  VRAMKIT_CUDNN_CHECK_AS(cudnnBackendFinalize(d), std::string("cudnnBackendFinalize(") + what + ")");
}

// The shapes of one request as cuDNN sees them (after the causal Lq > Lk rows are cut off).
struct GraphShape {
  DType dtype;
  std::int64_t batch, q_heads, kv_heads, q_len, kv_len, head_dim;
  std::int64_t q_batch_stride;  // elements between batch elements of q / out: the full Lq·Hq·D
  bool causal;
  bool key_bias;
};

// Builds the operation graph of the file comment into `d`; returns the graph descriptor.
class SdpaGraphBuilder {
 public:
  SdpaGraphBuilder(Descriptors& d, cudnnHandle_t handle, const GraphShape& s)
      : d_(d), handle_(handle), s_(s) {}

  cudnnBackendDescriptor_t build() {
    const std::int64_t b = s_.batch, h = s_.q_heads, hk = s_.kv_heads, sq = s_.q_len, skv = s_.kv_len,
                       dh = s_.head_dim;
    const cudnnDataType_t io = cudnn_type(s_.dtype);
    const auto q = tensor(kUidQ, io, {b, h, sq, dh}, {s_.q_batch_stride, dh, h * dh, 1});
    // Kᵀ: [B, Hkv, D, Lk] over the [B, Lk, Hkv, D] buffer.
    const auto kt = tensor(kUidK, io, {b, hk, dh, skv}, {skv * hk * dh, dh, 1, hk * dh});
    const auto v = tensor(kUidV, io, {b, hk, skv, dh}, {skv * hk * dh, dh, hk * dh, 1});
    const auto o = tensor(kUidO, io, {b, h, sq, dh}, {s_.q_batch_stride, dh, h * dh, 1});

    auto s = scores(CUDNN_DATA_FLOAT);
    matmul(q, kt, s);
    s = pointwise(CUDNN_POINTWISE_MUL, s, scalar(kUidScale, CUDNN_DATA_FLOAT));
    if (s_.key_bias) {
      s = pointwise(CUDNN_POINTWISE_ADD, s, tensor(kUidBias, io, {b, 1, 1, skv}, {skv, skv, skv, 1}));
    }
    if (s_.causal) s = causal_mask(s);

    // Softmax as cudnn-frontend's composite softmax node, the statistics included (virtual).
    const auto max = rows(CUDNN_DATA_FLOAT);
    reduction(CUDNN_REDUCE_TENSOR_MAX, s, max);
    const auto exp = pointwise(CUDNN_POINTWISE_EXP, pointwise(CUDNN_POINTWISE_SUB, s, max));
    const auto sum = rows(CUDNN_DATA_FLOAT);
    reduction(CUDNN_REDUCE_TENSOR_ADD, exp, sum);
    const auto log_sum = rows(CUDNN_DATA_FLOAT);
    pointwise_into(CUDNN_POINTWISE_LOG, CUDNN_DATA_FLOAT, sum, nullptr, nullptr, log_sum);
    pointwise_into(CUDNN_POINTWISE_ADD, CUDNN_DATA_FLOAT, max, log_sum, nullptr, rows(CUDNN_DATA_FLOAT));
    const auto p = scores(io);  // cuDNN takes P·V's P in the input dtype
    pointwise_into(CUDNN_POINTWISE_DIV, CUDNN_DATA_FLOAT, exp, sum, nullptr, p);
    matmul(p, v, o);

    const auto graph = d_.create(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    VRAMKIT_CUDNN_SET(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                      static_cast<std::int64_t>(ops_.size()), ops_.data());
    VRAMKIT_CUDNN_SET(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle_);
    finalize(graph, "operation graph");
    return graph;
  }

 private:
  cudnnBackendDescriptor_t tensor(std::int64_t uid, cudnnDataType_t type, const Dims& dims,
                                  const Dims& strides, bool is_virtual = false, bool by_value = false) {
    const auto t = d_.create(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    VRAMKIT_CUDNN_SET(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
    VRAMKIT_CUDNN_SET(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data());
    VRAMKIT_CUDNN_SET(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data());
    VRAMKIT_CUDNN_SET(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    VRAMKIT_CUDNN_SET(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &kByteAlignment);
    if (is_virtual) VRAMKIT_CUDNN_SET(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual);
    if (by_value) VRAMKIT_CUDNN_SET(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value);
    finalize(t, "tensor");
    return t;
  }
  // A virtual [B, Hq, Lq, Lk] tensor (scores, masks, probabilities).
  cudnnBackendDescriptor_t scores(cudnnDataType_t type) {
    const std::int64_t h = s_.q_heads, sq = s_.q_len, skv = s_.kv_len;
    return tensor(next_uid_++, type, {s_.batch, h, sq, skv}, {h * sq * skv, sq * skv, skv, 1}, true);
  }
  // A virtual [B, Hq, Lq, 1] tensor (per-row statistics).
  cudnnBackendDescriptor_t rows(cudnnDataType_t type) {
    const std::int64_t h = s_.q_heads, sq = s_.q_len;
    return tensor(next_uid_++, type, {s_.batch, h, sq, 1}, {h * sq, sq, 1, 1}, true);
  }
  // A [1, 1, 1, 1] operand passed by value (a host pointer in the variant pack).
  cudnnBackendDescriptor_t scalar(std::int64_t uid, cudnnDataType_t type) {
    return tensor(uid, type, {1, 1, 1, 1}, {1, 1, 1, 1}, false, true);
  }

  void pointwise_into(cudnnPointwiseMode_t mode, cudnnDataType_t compute, cudnnBackendDescriptor_t x,
                      cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t t, cudnnBackendDescriptor_t y,
                      std::int64_t axis = -1) {
    const auto pw = d_.create(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    VRAMKIT_CUDNN_SET(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    VRAMKIT_CUDNN_SET(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &compute);
    if (mode == CUDNN_POINTWISE_GEN_INDEX)
      VRAMKIT_CUDNN_SET(pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis);
    finalize(pw, "pointwise descriptor");
    const auto op = d_.create(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    VRAMKIT_CUDNN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                      &pw);
    VRAMKIT_CUDNN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    if (b) VRAMKIT_CUDNN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b);
    if (t) VRAMKIT_CUDNN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t);
    VRAMKIT_CUDNN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    finalize(op, "pointwise operation");
    ops_.push_back(op);
  }
  // f32 score-shaped result of an f32 pointwise operation.
  cudnnBackendDescriptor_t pointwise(cudnnPointwiseMode_t mode, cudnnBackendDescriptor_t x,
                                     cudnnBackendDescriptor_t b = nullptr) {
    const auto y = scores(CUDNN_DATA_FLOAT);
    pointwise_into(mode, CUDNN_DATA_FLOAT, x, b, nullptr, y);
    return y;
  }

  void reduction(cudnnReduceTensorOp_t op_type, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y) {
    const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
    const auto r = d_.create(CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    VRAMKIT_CUDNN_SET(r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute);
    VRAMKIT_CUDNN_SET(r, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &op_type);
    finalize(r, "reduction descriptor");
    const auto op = d_.create(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    VRAMKIT_CUDNN_SET(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    VRAMKIT_CUDNN_SET(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    VRAMKIT_CUDNN_SET(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &r);
    finalize(op, "reduction operation");
    ops_.push_back(op);
  }

  void matmul(cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t c) {
    const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
    const auto mm = d_.create(CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    VRAMKIT_CUDNN_SET(mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute);
    finalize(mm, "matmul descriptor");
    const auto op = d_.create(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    VRAMKIT_CUDNN_SET(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a);
    VRAMKIT_CUDNN_SET(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b);
    VRAMKIT_CUDNN_SET(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c);
    VRAMKIT_CUDNN_SET(op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &mm);
    finalize(op, "matmul operation");
    ops_.push_back(op);
  }

  // Keeps S where key col is allowed for query row (row >= col, or row + Lk - Lq >= col when Lq < Lk), -inf
  // elsewhere: cudnn-frontend's diagonal band mask with a right bound of 0 (composite form).
  cudnnBackendDescriptor_t causal_mask(cudnnBackendDescriptor_t s) {
    auto row = scores(CUDNN_DATA_INT32);
    pointwise_into(CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, s, nullptr, nullptr, row, 2);
    const auto col = scores(CUDNN_DATA_INT32);
    pointwise_into(CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, s, nullptr, nullptr, col, 3);
    if (s_.q_len != s_.kv_len) {  // bottom-right alignment: row + Lk - Lq
      const auto plus_kv = scores(CUDNN_DATA_INT32);
      pointwise_into(CUDNN_POINTWISE_ADD, CUDNN_DATA_INT32, row, scalar(kUidKvLen, CUDNN_DATA_INT32), nullptr,
                     plus_kv);
      const auto shifted = scores(CUDNN_DATA_INT32);
      pointwise_into(CUDNN_POINTWISE_SUB, CUDNN_DATA_INT32, plus_kv, scalar(kUidQLen, CUDNN_DATA_INT32),
                     nullptr, shifted);
      row = shifted;
    }
    const auto allowed = scores(CUDNN_DATA_BOOLEAN);
    pointwise_into(CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, row, col, nullptr, allowed);
    const auto masked = scores(CUDNN_DATA_FLOAT);
    pointwise_into(CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, s,
                   scalar(kUidNegativeInfinity, CUDNN_DATA_FLOAT), allowed, masked);
    return masked;
  }

  Descriptors& d_;
  cudnnHandle_t handle_;
  const GraphShape& s_;
  std::int64_t next_uid_ = kFirstVirtualUid;
  std::vector<cudnnBackendDescriptor_t> ops_;
};

}  // namespace

// One finalized execution plan and everything it references.
struct CudnnPlan {
  Descriptors descriptors;
  cudnnBackendDescriptor_t plan = nullptr;
  std::int64_t workspace_bytes = 0;
  GraphShape shape{};
  // The by-value operands' host values, read by cudnnBackendExecute while it enqueues.
  float negative_infinity = -std::numeric_limits<float>::infinity();
  std::int32_t kv_len = 0, q_len = 0;
};

struct CudnnAttention::Impl {
  using Key = std::tuple<int, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                         std::int64_t, bool, bool>;
  struct Entry {
    std::unique_ptr<CudnnPlan> plan;  // null: refused
    std::string refusal;
  };

  Impl(std::shared_ptr<Allocator> arena, std::size_t max_plans)
      : plans(max_plans), memory(std::move(arena)) {}

  cudnnHandle_t handle = nullptr;
  int compute_major = 0, compute_minor = 0;
  LruCache<Key, Entry> plans;
  LibraryWorkspace memory;  // per run: the key padding bias, the first valid keys, the plan's workspace
  // The stream of the runs enqueued since the last wait for it. A plan owns the kernel cuDNN compiled for it,
  // so a plan is dropped from the cache only once no run of it can still be in flight.
  cudaStream_t run_stream = nullptr;
  bool runs_in_flight = false;

  void before_drop(Entry& dropped) {
    if (!dropped.plan || !runs_in_flight) return;
    VRAMKIT_CUDA_CHECK(cudaStreamSynchronize(run_stream));
    runs_in_flight = false;
  }

  const Entry& entry(DType dtype, const ops::cpu::AttentionDims& dims, bool key_mask, bool causal);
  std::string refusal(DType dtype, const ops::cpu::AttentionDims& dims, bool key_mask, bool causal) const;
  std::unique_ptr<CudnnPlan> build(const GraphShape& shape, std::string& failure);
};

namespace {

std::string dims_text(const ops::cpu::AttentionDims& d) {
  return "q [" + std::to_string(d.batch) + ", " + std::to_string(d.q_len) + ", " + std::to_string(d.q_heads) +
         ", " + std::to_string(d.head_dim) + "], k [" + std::to_string(d.batch) + ", " +
         std::to_string(d.kv_len) + ", " + std::to_string(d.kv_heads) + ", " + std::to_string(d.head_dim) +
         "]";
}

// Tries the engine configs of one heuristic mode; the first that finalizes into a plan is returned.
cudnnBackendDescriptor_t first_plan(Descriptors& d, cudnnHandle_t handle, cudnnBackendDescriptor_t graph,
                                    cudnnBackendHeurMode_t mode, std::string& failure) {
  const auto heuristic = d.create(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  VRAMKIT_CUDNN_SET(heuristic, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                    &graph);
  VRAMKIT_CUDNN_SET(heuristic, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  finalize(heuristic, "engine heuristic");
  std::int64_t count = 0;
  VRAMKIT_CUDNN_CHECK_AS(cudnnBackendGetAttribute(heuristic, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr),
                         "cudnnBackendGetAttribute(CUDNN_ATTR_ENGINEHEUR_RESULTS count)");
  if (count <= 0) {
    failure += " heuristic mode " + std::to_string(static_cast<int>(mode)) + ": no engine;";
    return nullptr;
  }
  std::vector<cudnnBackendDescriptor_t> configs;
  for (std::int64_t i = 0; i < count; ++i) configs.push_back(d.create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
  std::int64_t returned = 0;
  VRAMKIT_CUDNN_CHECK_AS(
      cudnnBackendGetAttribute(heuristic, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count,
                               &returned, configs.data()),
      "cudnnBackendGetAttribute(CUDNN_ATTR_ENGINEHEUR_RESULTS)");
  // cuDNN 9.19 returns only the configs it can build here (it compiles them to check): none means every
  // engine refused the graph or the device; its log (CUDNN_LOGLEVEL_DBG=2) says why for each.
  if (returned <= 0)
    failure += " heuristic mode " + std::to_string(static_cast<int>(mode)) + ": none of its " +
               std::to_string(count) + " engine configs can be built;";
  for (std::int64_t i = 0; i < returned; ++i) {
    cudnnBackendDescriptor_t plan = nullptr;
    VRAMKIT_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan));
    cudnnStatus_t status =
        cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    if (status == CUDNN_STATUS_SUCCESS)
      status =
          cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &configs[static_cast<std::size_t>(i)]);
    if (status == CUDNN_STATUS_SUCCESS) status = cudnnBackendFinalize(plan);
    if (status == CUDNN_STATUS_SUCCESS) {
      d.adopt(plan);  // destroyed before the graph and engine config it references
      return plan;
    }
    std::array<char, 512> detail{};
    cudnnGetLastErrorString(detail.data(), detail.size());
    failure += " engine config " + std::to_string(i) + ": " + cudnnGetErrorString(status) +
               (detail[0] ? std::string(" (") + detail.data() + ")" : std::string()) + ";";
    cudnnBackendDestroyDescriptor(plan);
  }
  return nullptr;
}

}  // namespace

std::string CudnnAttention::Impl::refusal(DType dtype, const ops::cpu::AttentionDims& d, bool key_mask,
                                          bool causal) const {
  if (dtype != DType::bf16 && dtype != DType::f16)
    return "dtype " + std::string(dtype_name(dtype)) + " (cuDNN attention takes bf16, f16)";
  if (d.batch <= 0 || d.q_len <= 0 || d.kv_len <= 0 || d.q_heads <= 0 || d.kv_heads <= 0 || d.head_dim <= 0)
    return "an empty or negative size (" + dims_text(d) + ")";
  if (d.q_len > INT32_MAX || d.kv_len > INT32_MAX)
    return "a sequence length of 2^31 or more (" + dims_text(d) + "): the mask indices are int32";
  if (d.q_heads % d.kv_heads != 0)
    return "query heads " + std::to_string(d.q_heads) + " not a multiple of key/value heads " +
           std::to_string(d.kv_heads);
  if (d.head_dim % 8 != 0 || d.head_dim > 128)
    return "head_dim " + std::to_string(d.head_dim) + " (a multiple of 8, at most 128)";
  if (compute_major < 8)
    return "sm_" + std::to_string(compute_major) + std::to_string(compute_minor) +
           " (cuDNN's fused attention needs sm_80 or newer)";
  if (causal && key_mask && d.q_len < d.kv_len)
    return "the causal mask with a key padding mask when Lq < Lk (" + dims_text(d) +
           "): cuDNN's bottom-right causal mask takes no bias";
  return {};
}

std::unique_ptr<CudnnPlan> CudnnAttention::Impl::build(const GraphShape& shape, std::string& failure) {
  auto plan = std::make_unique<CudnnPlan>();
  plan->shape = shape;
  plan->q_len = static_cast<std::int32_t>(shape.q_len);
  plan->kv_len = static_cast<std::int32_t>(shape.kv_len);
  try {
    const auto graph = SdpaGraphBuilder(plan->descriptors, handle, plan->shape).build();
    for (const cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
      try {
        plan->plan = first_plan(plan->descriptors, handle, graph, mode, failure);
      } catch (const CudaError& e) {  // this heuristic mode refuses the graph; the next may take it
        failure += " heuristic mode " + std::to_string(static_cast<int>(mode)) + ": " + e.what() + ";";
      }
      if (plan->plan) break;
    }
    if (!plan->plan) return nullptr;
    std::int64_t returned = 0;
    VRAMKIT_CUDNN_CHECK_AS(cudnnBackendGetAttribute(plan->plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                    CUDNN_TYPE_INT64, 1, &returned, &plan->workspace_bytes),
                           "cudnnBackendGetAttribute(CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE)");
  } catch (const CudaError& e) {  // a graph cuDNN does not take is a refusal, with cuDNN's words
    failure += std::string(" ") + e.what() + ";";
    return nullptr;
  }
  return plan;
}

const CudnnAttention::Impl::Entry& CudnnAttention::Impl::entry(DType dtype, const ops::cpu::AttentionDims& d,
                                                               bool key_mask, bool causal) {
  const Key key{static_cast<int>(dtype),
                d.batch,
                d.q_heads,
                d.kv_heads,
                d.q_len,
                d.kv_len,
                d.head_dim,
                causal,
                key_mask};
  if (const Entry* cached = plans.find(key)) return *cached;
  Entry e;
  e.refusal = refusal(dtype, d, key_mask, causal);
  if (e.refusal.empty()) {
    // Causal with Lq > Lk: only the last Lk query rows see keys; they are a square problem at a row offset.
    const GraphShape shape{.dtype = dtype,
                           .batch = d.batch,
                           .q_heads = d.q_heads,
                           .kv_heads = d.kv_heads,
                           .q_len = causal ? std::min(d.q_len, d.kv_len) : d.q_len,
                           .kv_len = d.kv_len,
                           .head_dim = d.head_dim,
                           .q_batch_stride = d.q_len * d.q_heads * d.head_dim,
                           .causal = causal,
                           .key_bias = key_mask};
    std::string failure;
    e.plan = build(shape, failure);
    const std::string what = std::string(dtype_name(dtype)) + " " + dims_text(d) + (causal ? " causal" : "") +
                             (key_mask ? " key mask" : "");
    if (!e.plan) {
      e.refusal = "cuDNN built no plan for " + what + ":" + failure;
    } else if (static_cast<std::uint64_t>(e.plan->workspace_bytes) > ops::kLibraryWorkspaceBytes) {
      // Beyond what the workspace estimates price (activation_meter.h): our own kernel runs it instead.
      e.refusal = "cuDNN's plan for " + what + " needs " + std::to_string(e.plan->workspace_bytes) +
                  " bytes of workspace, above ops::kLibraryWorkspaceBytes";
      e.plan.reset();
    }
  }
  return plans.insert(key, std::move(e), [this](Entry& dropped) { before_drop(dropped); });
}

namespace {

void check_aligned(const void* p, const char* name) {
  if (reinterpret_cast<std::uintptr_t>(p) % kByteAlignment != 0)
    throw ArgumentError(std::string("cudnn attention: ") + name + " is not 16-byte aligned");
}

}  // namespace

CudnnAttention::CudnnAttention(std::shared_ptr<Allocator> arena, std::size_t max_plans)
    : impl_(std::make_unique<Impl>(std::move(arena), max_plans)) {
  int device = 0;
  VRAMKIT_CUDA_CHECK(cudaGetDevice(&device));
  VRAMKIT_CUDA_CHECK(
      cudaDeviceGetAttribute(&impl_->compute_major, cudaDevAttrComputeCapabilityMajor, device));
  VRAMKIT_CUDA_CHECK(
      cudaDeviceGetAttribute(&impl_->compute_minor, cudaDevAttrComputeCapabilityMinor, device));
  VRAMKIT_CUDNN_CHECK(cudnnCreate(&impl_->handle));
}

CudnnAttention::~CudnnAttention() {
  impl_->plans.clear();  // the plans' descriptors before the handle they were built with
  cudnnDestroy(impl_->handle);
}

bool CudnnAttention::supports(DType dtype, const ops::cpu::AttentionDims& dims, bool key_mask, bool causal,
                              std::string* reason) {
  const Impl::Entry& e = impl_->entry(dtype, dims, key_mask, causal);
  if (!e.plan && reason) *reason = e.refusal;
  return e.plan != nullptr;
}

void CudnnAttention::run(const void* q, const void* k, const void* v, void* out, DType dtype,
                         const ops::cpu::AttentionDims& dims, const std::uint8_t* key_valid, bool causal,
                         float scale, cudaStream_t stream) {
  const Impl::Entry& e = impl_->entry(dtype, dims, key_valid != nullptr, causal);
  if (!e.plan) throw ArgumentError("cudnn attention: not supported: " + e.refusal);
  check_aligned(q, "q");
  check_aligned(k, "k");
  check_aligned(v, "v");
  check_aligned(out, "out");
  const CudnnPlan& plan = *e.plan;
  const GraphShape& shape = plan.shape;
  const std::size_t row_bytes = static_cast<std::size_t>(dims.q_heads * dims.head_dim) * dtype_size(dtype);
  const auto skipped_rows = static_cast<std::size_t>(dims.q_len - shape.q_len);  // causal with Lq > Lk
  const void* q_rows = static_cast<const char*>(q) + skipped_rows * row_bytes;
  void* out_rows = static_cast<char*>(out) + skipped_rows * row_bytes;

  std::int32_t* first_valid = nullptr;
  LibraryWorkspace::Block bias, first_valid_block;
  if (key_valid) {
    bias = impl_->memory.take(0, static_cast<std::size_t>(dims.batch * dims.kv_len) * dtype_size(dtype));
    first_valid_block = impl_->memory.take(1, static_cast<std::size_t>(dims.batch) * sizeof(std::int32_t));
    first_valid = static_cast<std::int32_t*>(first_valid_block.data());
    launch_key_padding_bias(key_valid, bias.data(), first_valid, dtype, dims.batch, dims.kv_len, stream);
  }
  const LibraryWorkspace::Block workspace_block =
      impl_->memory.take(2, static_cast<std::size_t>(plan.workspace_bytes));

  std::vector<std::int64_t> uids{kUidQ, kUidK, kUidV, kUidO, kUidScale};
  std::vector<void*> pointers{const_cast<void*>(q_rows), const_cast<void*>(k), const_cast<void*>(v), out_rows,
                              &scale};
  if (shape.key_bias) uids.push_back(kUidBias), pointers.push_back(bias.data());
  if (shape.causal) {
    uids.push_back(kUidNegativeInfinity);
    pointers.push_back(const_cast<float*>(&plan.negative_infinity));
    if (shape.q_len != shape.kv_len) {
      uids.push_back(kUidKvLen), pointers.push_back(const_cast<std::int32_t*>(&plan.kv_len));
      uids.push_back(kUidQLen), pointers.push_back(const_cast<std::int32_t*>(&plan.q_len));
    }
  }
  void* workspace = workspace_block.data();
  Descriptors pack_owner;
  const auto pack = pack_owner.create(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  const auto count = static_cast<std::int64_t>(uids.size());
  VRAMKIT_CUDNN_SET(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, count, uids.data());
  VRAMKIT_CUDNN_SET(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, count, pointers.data());
  VRAMKIT_CUDNN_SET(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
  finalize(pack, "variant pack");
  VRAMKIT_CUDNN_CHECK(cudnnSetStream(impl_->handle, stream));
  VRAMKIT_CUDNN_CHECK(cudnnBackendExecute(impl_->handle, plan.plan, pack));
  impl_->run_stream = stream;  // runs through one object are ordered on one stream (attention_cudnn.h)
  impl_->runs_in_flight = true;
  if (key_valid || skipped_rows > 0)
    launch_zero_empty_attention_rows(out, dtype, dims, first_valid, causal, stream);
}

std::size_t CudnnAttention::cached_plans() const {
  std::size_t n = 0;
  impl_->plans.for_each([&](const Impl::Key&, const Impl::Entry& e) { n += e.plan != nullptr; });
  return n;
}

}  // namespace vramkit::cuda
