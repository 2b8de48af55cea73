// linear's GEMM and the batched matmul through cuBLASLt (host code only: the kernels are NVIDIA's).
// Layout: cuBLASLt is column-major, and a row-major matrix is its column-major transpose, so each row-major
// product is computed as the transposed one, D = op(A)·op(B) column-major (ColumnMajorGemm below):
//   linear y[rows, out] = x[rows, in]·W[out, in]ᵀ  ->  yᵀ[out, rows] = W·xᵀ: A = the weight buffer read as
//   column-major [in, out] with transa = T (m = out), B = the x buffer as column-major [in, rows] (n = rows,
//   k = in), D = the y buffer as column-major [out, rows]. The bias epilogue adds m = out values, broadcast
//   over the rows: nn.Linear's bias.
//   matmul c[M, N] = a[M, K]·b[K, N]  ->  cᵀ = bᵀ·aᵀ: A = the b buffer as column-major [N, K] (or [K, N] with
//   transa = T when b is stored [N, K]), B = the a buffer as column-major [K, M], D = c as column-major
//   [N, M]; batches through strided batch offsets.
// Precision: CUBLAS_COMPUTE_32F with f32 scale: products accumulated in f32 (f32 inputs stay in f32: no
// TF32). For bf16 / f16 outputs the bias epilogue, and a beta = 1 product onto C, add the bias / C to the
// product already rounded to the output dtype (seen on an H100 with CUDA 13.0, 2026-11-28, with split-K
// restricted to f32 partial sums): two roundings where the CPU has one, which matters only where the bias
// cancels most of the product. (torch's bf16 nn.Linear on the GPU goes through the same epilogue.)
// Plans: descriptors, layouts and the heuristic's first algorithm are built once per ColumnMajorGemm (shape,
// dtype, transposes, batch strides, bias, pointer alignment) and reused; the bias pointer is set per call.
// The row count follows the prompt's length, so the cache keeps the most recently used plans (kMaxGemmPlans);
// dropping one needs no wait for the stream, since cuBLASLt reads a plan's descriptors only while it
// enqueues. A bias below 16-byte alignment skips the epilogue: it is copied into y, which the GEMM
// accumulates onto. fp8 linear (launch_fp8_linear_gemm): the same transposed product with A = the fp8 weight
// and B = the fp8 codes of x, both K-major ("TN": transa = T, transb = N, which cuBLASLt requires for fp8),
// unscaled, into an f32 D, a block of rows at a time; a kernel then applies the row and channel scales and
// the bias. (The per-row scales as cuBLASLt's outer-vector scales,
// CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F, found no algorithm on an H100 with CUDA 13.0, 2026-11-28.) A
// shape cuBLASLt cannot run natively (no algorithm, or an unsupported attribute) is remembered as
// unsupported, so the caller's fallback is chosen without asking again.
#include <cublasLt.h>

#include <algorithm>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_device.h"
#include "core/lru_cache.h"
#include "ops/cuda/elementwise_cuda.h"
#include "ops/cuda/fp8_quantize_cuda.h"
#include "ops/cuda/gemm_cuda.h"
#include "ops/cuda/library_workspace.h"
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

// The operand type of A and B: the activation dtypes, or fp8.
cudaDataType_t operand_type(DType dt) {
  if (dt == DType::f8_e4m3fn) return CUDA_R_8F_E4M3;
  if (dt == DType::f8_e5m2) return CUDA_R_8F_E5M2;
  return cuda_type(dt);
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
  std::size_t workspace_bytes = 0;  // what the algorithm needs, within the context's maximum

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

// One cuBLASLt call in its own terms: D[m, n] = op(A)·op(B) (+ bias[m]) column-major, `batch` times; A stored
// as [m, k] (or [k, m] when transpose_a), B as [k, n] (or [n, k]), leading dimensions and batch strides in
// elements. Also the plan cache's key.
struct ColumnMajorGemm {
  DType dtype;          // of D, C and the bias
  DType operand_dtype;  // of A and B: dtype, or fp8 (then dtype is f32)
  bool transpose_a, transpose_b;
  std::int64_t m, n, k, lda, ldb, ldd;
  std::int64_t batch, stride_a, stride_b, stride_d;
  bool bias;
  std::uint32_t align;  // of every buffer (cuBLASLt's MIN_ALIGNMENT preferences)

  auto key() const {
    return std::tuple(dtype, operand_dtype, transpose_a, transpose_b, m, n, k, lda, ldb, ldd, batch, stride_a,
                      stride_b, stride_d, bias, align);
  }
  bool operator<(const ColumnMajorGemm& other) const { return key() < other.key(); }
};

// A linear y[rows, out] = x[rows, in]·Wᵀ (+ bias), all row-major, as cuBLASLt's column-major product
// yᵀ[out, rows] = W·xᵀ: A is the weight read as column-major [in, out], transposed; B is x read as
// column-major [in, rows].
ColumnMajorGemm linear_spec(DType dtype, DType operand_dtype, std::int64_t rows, std::int64_t in,
                            std::int64_t out, bool bias, std::uint32_t align) {
  return ColumnMajorGemm{.dtype = dtype,
                         .operand_dtype = operand_dtype,
                         .transpose_a = true,
                         .transpose_b = false,
                         .m = out,
                         .n = rows,
                         .k = in,
                         .lda = in,
                         .ldb = in,
                         .ldd = out,
                         .batch = 1,
                         .stride_a = 0,
                         .stride_b = 0,
                         .stride_d = 0,
                         .bias = bias,
                         .align = align};
}

}  // namespace

struct GemmContext::Impl {
  Impl(std::shared_ptr<Allocator> arena, std::size_t max_workspace, std::size_t max_plans)
      : workspace(std::move(arena)), max_workspace_bytes(max_workspace), plans(max_plans) {}

  cublasLtHandle_t handle = nullptr;
  LibraryWorkspace workspace;
  std::size_t max_workspace_bytes;
  // Null: an fp8 product cuBLASLt cannot run (try_plan), remembered so the caller falls back at once.
  LruCache<ColumnMajorGemm, std::unique_ptr<Plan>> plans;
  int compute_capability = 0;  // of the device the context was made on, e.g. 90

  ~Impl() {
    plans.clear();
    if (handle) cublasLtDestroy(handle);
  }

  static void drop(std::unique_ptr<Plan>&) {}  // cuBLASLt does not read a plan after it enqueued a product

  // The plan of `g`, built on first use; `what` describes the product for error messages.
  const Plan& plan(const ColumnMajorGemm& g, const std::string& what) {
    if (const auto* cached = plans.find(g)) {
      if (*cached) return **cached;
      throw_cublas_error(CUBLAS_STATUS_NOT_SUPPORTED, "no algorithm for " + what + " (refused before)",
                         __FILE__, __LINE__);
    }
    auto built = std::make_unique<Plan>();
    build(*built, g, what);
    return *plans.insert(g, std::move(built), drop);
  }

  // The plan of an fp8 product, built on first use, or null when cuBLASLt cannot run it (remembered).
  const Plan* try_plan(const ColumnMajorGemm& g, const std::string& what) {
    if (const auto* cached = plans.find(g)) return cached->get();
    auto built = std::make_unique<Plan>();
    try {
      build(*built, g, what);
    } catch (const CudaError&) {
      built.reset();
    }
    return plans.insert(g, std::move(built), drop).get();
  }

  static void set_batch(cublasLtMatrixLayout_t layout, std::int64_t batch, std::int64_t stride) {
    if (batch == 1) return;
    const auto count = static_cast<std::int32_t>(batch);
    VRAMKIT_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    VRAMKIT_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                          &stride, sizeof(stride)));
  }

  void build(Plan& p, const ColumnMajorGemm& g, const std::string& what) {
    const cudaDataType_t type = cuda_type(g.dtype), operand = operand_type(g.operand_dtype);
    VRAMKIT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t op_a = g.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                            op_b = g.transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    VRAMKIT_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)));
    VRAMKIT_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)));
    if (g.bias) {
      const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      VRAMKIT_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
      const auto bias_type = static_cast<std::int32_t>(type);
      VRAMKIT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                          &bias_type, sizeof(bias_type)));
    }
    const auto m = static_cast<std::uint64_t>(g.m), n = static_cast<std::uint64_t>(g.n),
               k = static_cast<std::uint64_t>(g.k);
    VRAMKIT_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&p.a, operand, g.transpose_a ? k : m, g.transpose_a ? m : k, g.lda));
    VRAMKIT_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&p.b, operand, g.transpose_b ? n : k, g.transpose_b ? k : n, g.ldb));
    VRAMKIT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.d, type, m, n, g.ldd));
    set_batch(p.a, g.batch, g.stride_a);
    set_batch(p.b, g.batch, g.stride_b);
    set_batch(p.d, g.batch, g.stride_d);

    cublasLtMatmulPreference_t preference = nullptr;
    VRAMKIT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t status = [&] {
      cublasStatus_t s =
          cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                               &max_workspace_bytes, sizeof(max_workspace_bytes));
      for (auto attribute :
           {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
            CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
        if (s == CUBLAS_STATUS_SUCCESS)
          s = cublasLtMatmulPreferenceSetAttribute(preference, attribute, &g.align, sizeof(g.align));
      // Split-K only with its partial sums in f32: a reduction in the output type, or in place in D, rounds
      // every partial sum to bf16 / f16 (seen on an H100: bf16 convs onto a pre-loaded bias several units of
      // the partial sums' last place off without this mask; with it, only the epilogue's rounding, Precision
      // above, remained).
      const auto reductions = static_cast<std::uint32_t>(CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE);
      if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                                 &reductions, sizeof(reductions));
      if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulAlgoGetHeuristic(handle, p.desc, p.a, p.b, p.d, p.d, preference, 1, &result,
                                           &found);
      return s;
    }();
    cublasLtMatmulPreferenceDestroy(preference);
    if (status != CUBLAS_STATUS_SUCCESS)
      throw_cublas_error(status, "the algorithm heuristic for " + what, __FILE__, __LINE__);
    if (found == 0)
      throw_cublas_error(CUBLAS_STATUS_NOT_SUPPORTED, "no algorithm for " + what, __FILE__, __LINE__);
    p.algo = result.algo;
    p.workspace_bytes = result.workspaceSize;
  }

  // Runs a planned product: D = alpha · op(A)·op(B) + beta · D (+ bias).
  void run(const ColumnMajorGemm& g, const std::string& what, const void* a, const void* b, void* d,
           const void* bias, float alpha, float beta, cudaStream_t stream) {
    const Plan& p = plan(g, what);
    if (bias)  // the plan is shared by every bias of this shape; the pointer is per call
      VRAMKIT_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    const LibraryWorkspace::Block block = workspace.take(0, p.workspace_bytes);
    const cublasStatus_t status = cublasLtMatmul(handle, p.desc, &alpha, a, p.a, b, p.b, &beta, d, p.d, d,
                                                 p.d, &p.algo, block.data(), p.workspace_bytes, stream);
    if (status != CUBLAS_STATUS_SUCCESS)
      throw_cublas_error(status, "cublasLtMatmul for " + what, __FILE__, __LINE__);
  }
};

GemmContext::GemmContext(std::shared_ptr<Allocator> arena, std::size_t max_workspace_bytes,
                         std::size_t max_plans)
    : impl_(std::make_unique<Impl>(std::move(arena), max_workspace_bytes, max_plans)) {
  VRAMKIT_CUBLAS_CHECK(cublasLtCreate(&impl_->handle));
  int device = 0, major = 0, minor = 0;
  VRAMKIT_CUDA_CHECK(cudaGetDevice(&device));
  VRAMKIT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  VRAMKIT_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  impl_->compute_capability = 10 * major + minor;
}

GemmContext::~GemmContext() = default;

std::size_t GemmContext::cached_plans() const {
  std::size_t n = 0;
  impl_->plans.for_each([&](const ColumnMajorGemm&, const std::unique_ptr<Plan>& p) { n += p != nullptr; });
  return n;
}

void launch_linear_gemm(GemmContext& context, const LinearGemm& g, cudaStream_t stream) {
  cuda_type(g.dtype);  // rejects other dtypes before anything else
  if (g.rows < 0 || g.in <= 0 || g.out <= 0)
    throw ArgumentError("cuda linear: bad sizes for " + shape_text(g) + " (rows >= 0, in and out > 0)");
  if (g.rows == 0) return;
  // The bias epilogue reads the bias as it wants, and the heuristic's alignment preferences do not cover it:
  // below 16 bytes (a view at an odd offset) it may fault with a misaligned address, which poisons the
  // context. Such a bias is pre-loaded into y instead, and the GEMM adds its products to it (beta = 1): the
  // same result as the epilogue's (see Precision above).
  const bool bias_epilogue = g.bias != nullptr && alignment(g.bias) >= 16;
  if (g.bias && !bias_epilogue)
    launch_copy(StridedInput{g.bias, g.dtype, {0, 1}}, g.y, g.dtype, {g.rows, g.out}, stream);
  const void* bias = bias_epilogue ? g.bias : nullptr;
  const std::uint32_t align =
      std::min({alignment(g.x), alignment(g.weight), alignment(g.y), alignment(bias)});
  const ColumnMajorGemm spec = linear_spec(g.dtype, g.dtype, g.rows, g.in, g.out, bias_epilogue, align);
  context.impl_->run(spec, shape_text(g), g.weight, g.x, g.y, bias, 1.0f,
                     g.bias && !bias_epilogue ? 1.0f : 0.0f, stream);
}

void launch_matmul_gemm(GemmContext& context, const MatmulGemm& g, cudaStream_t stream) {
  cuda_type(g.dtype);
  const std::string what = "a [" + std::to_string(g.batch) + ", " + std::to_string(g.m) + ", " +
                           std::to_string(g.k) + "] · b [" + std::to_string(g.batch) + ", " +
                           (g.b_transposed ? std::to_string(g.n) + ", " + std::to_string(g.k) + "]ᵀ "
                                           : std::to_string(g.k) + ", " + std::to_string(g.n) + "] ") +
                           std::string(dtype_name(g.dtype));
  if (g.batch < 0 || g.m < 0 || g.n < 0 || g.k <= 0 || g.a_batch_stride < 0 || g.b_batch_stride < 0)
    throw ArgumentError("cuda matmul: bad sizes for " + what + " (k > 0, the others >= 0)");
  if (g.batch == 0 || g.m == 0 || g.n == 0) return;
  const std::uint32_t align = std::min({alignment(g.a), alignment(g.b), alignment(g.c)});
  // cᵀ[n, m] = bᵀ·aᵀ: A is the b buffer (column-major [n, k], or [k, n] transposed), B the a buffer.
  const ColumnMajorGemm spec{.dtype = g.dtype,
                             .operand_dtype = g.dtype,
                             .transpose_a = g.b_transposed,
                             .transpose_b = false,
                             .m = g.n,
                             .n = g.m,
                             .k = g.k,
                             .lda = g.b_transposed ? g.k : g.n,
                             .ldb = g.k,
                             .ldd = g.n,
                             .batch = g.batch,
                             .stride_a = g.b_batch_stride,
                             .stride_b = g.a_batch_stride,
                             .stride_d = g.m * g.n,
                             .bias = false,
                             .align = align};
  context.impl_->run(spec, what, g.b, g.a, g.c, nullptr, g.alpha, g.beta, stream);
}

namespace {

std::string shape_text(const Fp8LinearGemm& g) {
  return "x [" + std::to_string(g.rows) + ", " + std::to_string(g.in) + "] · W [" + std::to_string(g.out) +
         ", " + std::to_string(g.in) + "]ᵀ " + std::string(dtype_name(g.fp8_dtype)) + " -> " +
         std::string(dtype_name(g.out_dtype)) + (g.bias ? " + bias" : "");
}

// The f32 sums of `rows` rows of x: Dᵀ[out, rows] = W·q_xᵀ, laid out as linear_spec's.
ColumnMajorGemm fp8_spec(const Fp8LinearGemm& g, std::int64_t rows) {
  return linear_spec(DType::f32, g.fp8_dtype, rows, g.in, g.out, false,
                     std::min({alignment(g.x_codes), alignment(g.weight), alignment(g.accumulator)}));
}

}  // namespace

bool fp8_linear_gemm_supported(GemmContext& context, const Fp8LinearGemm& g) {
  // cuBLASLt's fp8 kernels: sm_89 and newer; e5m2 x e5m2 is not among its type combinations; K-major operands
  // whose leading dimension (in) is a multiple of 16 and 16-byte aligned buffers; D's leading dimension (out)
  // a multiple of 16 too. The output in bf16 or f16 (the epilogue rounds to it).
  if (context.impl_->compute_capability < 89) return false;
  if (g.fp8_dtype != DType::f8_e4m3fn) return false;
  if (g.out_dtype != DType::bf16 && g.out_dtype != DType::f16) return false;
  if (g.rows <= 0 || g.in <= 0 || g.out <= 0 || g.in % 16 != 0 || g.out % 16 != 0) return false;
  if (g.accumulator == nullptr || g.accumulator_rows <= 0) return false;
  const std::int64_t block = std::min(g.rows, g.accumulator_rows), last = g.rows % block;
  for (std::int64_t rows : {block, last}) {
    if (rows == 0) continue;
    const ColumnMajorGemm spec = fp8_spec(g, rows);
    if (spec.align < 16 || context.impl_->try_plan(spec, shape_text(g)) == nullptr) return false;
  }
  return true;
}

void launch_fp8_linear_gemm(GemmContext& context, const Fp8LinearGemm& g, cudaStream_t stream) {
  if (!fp8_linear_gemm_supported(context, g))
    throw ArgumentError("cuda fp8 linear: cuBLASLt cannot run " + shape_text(g) +
                        " natively (check fp8_linear_gemm_supported first)");
  const std::size_t code_bytes = dtype_size(g.fp8_dtype), y_bytes = dtype_size(g.out_dtype);
  for (std::int64_t r0 = 0; r0 < g.rows; r0 += g.accumulator_rows) {
    const std::int64_t rows = std::min(g.accumulator_rows, g.rows - r0);
    const auto offset = static_cast<std::size_t>(r0);
    context.impl_->run(
        fp8_spec(g, rows), shape_text(g), g.weight,
        static_cast<const std::uint8_t*>(g.x_codes) + offset * static_cast<std::size_t>(g.in) * code_bytes,
        g.accumulator, nullptr, 1.0f, 0.0f, stream);
    launch_scale_fp8_accumulators(
        g.accumulator, g.x_scales + r0, g.weight_scales, g.bias,
        static_cast<std::uint8_t*>(g.y) + offset * static_cast<std::size_t>(g.out) * y_bytes, g.out_dtype,
        rows, g.out, stream);
  }
}

}  // namespace vramkit::cuda
