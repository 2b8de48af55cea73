// linear's GEMM through cuBLASLt (host code only: the kernels are NVIDIA's).
// Layout: cuBLASLt is column-major, so the row-major product y[rows, out] = x[rows, in]·W[out, in]ᵀ is
// computed as its transpose, column-major yᵀ[out, rows] = W·xᵀ: A = the weight buffer read as column-major
// [in, out] with transa = T (op(A) = W, m = out), B = the x buffer read as column-major [in, rows]
// untransposed (n = rows, k = in), D = the y buffer as column-major [out, rows] (ld = out). The bias epilogue
// adds a vector of m = out values, broadcast over the rows: nn.Linear's bias.
// Precision: CUBLAS_COMPUTE_32F with f32 scale: products accumulated in f32 (f32 inputs stay in f32: no
// TF32), the bias added in f32, one rounding to the output dtype.
// Plans: descriptors, layouts and the heuristic's first algorithm are built once per (dtype, rows, in, out,
// bias, alignment) and reused; only the bias pointer is set per call.
#include <cublasLt.h>

#include <algorithm>
#include <bit>
#include <map>
#include <string>
#include <tuple>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_device.h"
#include "ops/cuda/gemm_cuda.h"
#include "vramkit/error.h"

namespace vramkit::cuda {
namespace {

[[noreturn]] void throw_cublas_error(cublasStatus_t status, const std::string& what, const char* file,
                                     int line) {
  throw CudaError(static_cast<int>(status),
                  std::string("cuBLASLt ") + cublasLtGetStatusString(status) + " in " + what, file, line);
}

#define VRAMKIT_CUBLAS_CHECK(expr)                                           \
  do {                                                                       \
    const cublasStatus_t vramkit_cublas_status_ = (expr);                    \
    if (vramkit_cublas_status_ != CUBLAS_STATUS_SUCCESS)                     \
      throw_cublas_error(vramkit_cublas_status_, #expr, __FILE__, __LINE__); \
  } while (0)

cudaDataType_t cuda_type(DType dt) {
  switch (dt) {
    case DType::f32:
      return CUDA_R_32F;
    case DType::bf16:
      return CUDA_R_16BF;
    case DType::f16:
      return CUDA_R_16F;
    default:
      throw DTypeError("cuda linear: dtype " + std::string(dtype_name(dt)) +
                       " is not supported (f32, bf16, f16)");
  }
}

// The largest power of two, at most 256, that divides the address: cuBLASLt's heuristic assumes 256-byte
// aligned buffers unless told otherwise, and an algorithm chosen for that would fail on a view at an odd
// offset.
std::uint32_t alignment(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  if (address == 0) return 256;
  return static_cast<std::uint32_t>(std::min<std::uintptr_t>(256, address & (~address + 1)));
}

std::string shape_text(const LinearGemm& g) {
  return "x [" + std::to_string(g.rows) + ", " + std::to_string(g.in) + "] · W [" + std::to_string(g.out) +
         ", " + std::to_string(g.in) + "]ᵀ " + std::string(dtype_name(g.dtype)) + (g.bias ? " + bias" : "");
}

// The descriptors of one GEMM shape and the algorithm the heuristic picked for it; destroyed with the
// context.
struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {  // unchecked on purpose: destructors do not throw
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

using PlanKey = std::tuple<DType, std::int64_t, std::int64_t, std::int64_t, bool, std::uint32_t>;

}  // namespace

struct GemmContext::Impl {
  cublasLtHandle_t handle = nullptr;
  DeviceBuffer workspace;
  std::map<PlanKey, Plan> plans;

  ~Impl() {
    plans.clear();
    if (handle) cublasLtDestroy(handle);
  }

  const Plan& plan(const LinearGemm& g) {
    const std::uint32_t align =
        std::min({alignment(g.x), alignment(g.weight), alignment(g.y), alignment(g.bias)});
    const PlanKey key{g.dtype, g.rows, g.in, g.out, g.bias != nullptr, align};
    if (auto it = plans.find(key); it != plans.end()) return it->second;
    Plan& p = plans[key];
    try {
      build(p, g, align);
    } catch (...) {
      plans.erase(key);
      throw;
    }
    return p;
  }

  void build(Plan& p, const LinearGemm& g, std::uint32_t align) {
    const cudaDataType_t type = cuda_type(g.dtype);
    VRAMKIT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t transpose = CUBLAS_OP_T, keep = CUBLAS_OP_N;
    VRAMKIT_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose)));
    VRAMKIT_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &keep, sizeof(keep)));
    if (g.bias) {
      const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      VRAMKIT_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
      const auto bias_type = static_cast<std::int32_t>(type);
      VRAMKIT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                          &bias_type, sizeof(bias_type)));
      VRAMKIT_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof(g.bias)));
    }
    const auto rows = static_cast<std::uint64_t>(g.rows), in = static_cast<std::uint64_t>(g.in),
               out = static_cast<std::uint64_t>(g.out);
    VRAMKIT_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&p.a, type, in, out, g.in));  // W as column-major [in, out]
    VRAMKIT_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&p.b, type, in, rows, g.in));  // x as column-major [in, rows]
    VRAMKIT_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&p.d, type, out, rows, g.out));  // y as column-major [out, rows]

    cublasLtMatmulPreference_t preference = nullptr;
    VRAMKIT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t status = [&] {
      const std::size_t workspace_bytes = workspace.bytes();
      cublasStatus_t s = cublasLtMatmulPreferenceSetAttribute(
          preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes, sizeof(workspace_bytes));
      for (auto attribute :
           {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
            CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
        if (s == CUBLAS_STATUS_SUCCESS)
          s = cublasLtMatmulPreferenceSetAttribute(preference, attribute, &align, sizeof(align));
      if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulAlgoGetHeuristic(handle, p.desc, p.a, p.b, p.d, p.d, preference, 1, &result,
                                           &found);
      return s;
    }();
    cublasLtMatmulPreferenceDestroy(preference);
    if (status != CUBLAS_STATUS_SUCCESS)
      throw_cublas_error(status, "the algorithm heuristic for " + shape_text(g), __FILE__, __LINE__);
    if (found == 0)
      throw_cublas_error(CUBLAS_STATUS_NOT_SUPPORTED, "no algorithm for " + shape_text(g), __FILE__,
                         __LINE__);
    p.algo = result.algo;
  }
};

GemmContext::GemmContext(std::size_t workspace_bytes) : impl_(std::make_unique<Impl>()) {
  VRAMKIT_CUBLAS_CHECK(cublasLtCreate(&impl_->handle));
  if (workspace_bytes > 0) impl_->workspace = DeviceBuffer(workspace_bytes);
}

GemmContext::~GemmContext() = default;

std::size_t GemmContext::cached_plans() const {
  return impl_->plans.size();
}

void launch_linear_gemm(GemmContext& context, const LinearGemm& g, cudaStream_t stream) {
  cuda_type(g.dtype);  // rejects other dtypes before anything else
  if (g.rows < 0 || g.in <= 0 || g.out <= 0)
    throw ArgumentError("cuda linear: bad sizes for " + shape_text(g) + " (rows >= 0, in and out > 0)");
  if (g.rows == 0) return;
  GemmContext::Impl& impl = *context.impl_;
  const Plan& plan = impl.plan(g);
  if (g.bias)  // the plan is shared by every bias of this shape; the pointer is per call
    VRAMKIT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias,
                                                        sizeof(g.bias)));
  const float alpha = 1.0f, beta = 0.0f;
  const cublasStatus_t status =
      cublasLtMatmul(impl.handle, plan.desc, &alpha, g.weight, plan.a, g.x, plan.b, &beta, g.y, plan.d, g.y,
                     plan.d, &plan.algo, impl.workspace.data(), impl.workspace.bytes(), stream);
  if (status != CUBLAS_STATUS_SUCCESS)
    throw_cublas_error(status, "cublasLtMatmul for " + shape_text(g), __FILE__, __LINE__);
}

}  // namespace vramkit::cuda
