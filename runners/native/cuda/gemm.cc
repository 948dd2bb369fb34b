// File: runners/native/cuda/gemm.cc
#include "runners/native/cuda/gemm.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runners/native/planner/footprint.h"

namespace evald::runners::native::cuda {
namespace {

// The size the memory planner counts for it.
constexpr size_t kWorkspaceBytes = planner::kGemmWorkspaceBytes;
// The m the invariant mode tunes each shape for: a typical prefill step.
constexpr int64_t kPinnedM = 2048;
constexpr int kHeuristicResults = 16;

}  // namespace

absl::Status CudaStatus(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("cuda: ", what, ": ", cudaGetErrorString(error)));
}

absl::Status CublasStatus(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("cublasLt: ", what, ": status ", static_cast<int>(status)));
}

absl::StatusOr<std::unique_ptr<Gemm>> Gemm::Create(bool batch_invariant) {
  cublasLtHandle_t handle = nullptr;
  RETURN_IF_ERROR(CublasStatus(cublasLtCreate(&handle), "create handle"));
  void* workspace = nullptr;
  absl::Status status =
      CudaStatus(cudaMalloc(&workspace, kWorkspaceBytes), "gemm workspace");
  if (!status.ok()) {
    cublasLtDestroy(handle);
    return status;
  }
  return std::unique_ptr<Gemm>(
      new Gemm(handle, workspace, kWorkspaceBytes, batch_invariant));
}

Gemm::~Gemm() {
  for (auto& [key, plan] : plans_) {
    cublasLtMatrixLayoutDestroy(plan.a);
    cublasLtMatrixLayoutDestroy(plan.b);
    cublasLtMatrixLayoutDestroy(plan.c);
    cublasLtMatmulDescDestroy(plan.desc);
  }
  cudaFree(workspace_);
  cublasLtDestroy(handle_);
}

// Column-major view: y^T [n, m] = w [n, k] (stored as a col-major [k, n],
// transposed) * x^T [k, m] (x row-major [m, k] is a col-major [k, m]).
absl::Status Gemm::MakeLayouts(int64_t n, int64_t k, int64_t m, Plan* plan) {
  RETURN_IF_ERROR(CublasStatus(
      cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F),
      "matmul desc"));
  const cublasOperation_t trans_a = CUBLAS_OP_T;
  const cublasOperation_t trans_b = CUBLAS_OP_N;
  RETURN_IF_ERROR(CublasStatus(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                     &trans_a, sizeof(trans_a)),
      "transa"));
  RETURN_IF_ERROR(CublasStatus(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                     &trans_b, sizeof(trans_b)),
      "transb"));
  RETURN_IF_ERROR(CublasStatus(
      cublasLtMatrixLayoutCreate(&plan->a, CUDA_R_16F, k, n, k), "layout a"));
  RETURN_IF_ERROR(CublasStatus(
      cublasLtMatrixLayoutCreate(&plan->b, CUDA_R_16F, k, m, k), "layout b"));
  RETURN_IF_ERROR(CublasStatus(
      cublasLtMatrixLayoutCreate(&plan->c, CUDA_R_32F, n, m, n), "layout c"));
  return absl::OkStatus();
}

absl::StatusOr<cublasLtMatmulAlgo_t> Gemm::Choose(int64_t n, int64_t k,
                                                  int64_t m, bool no_split_k) {
  Plan probe;
  absl::Status made = MakeLayouts(n, k, m, &probe);
  cublasLtMatmulPreference_t pref = nullptr;
  cublasLtMatmulHeuristicResult_t results[kHeuristicResults];
  int found = 0;
  if (made.ok()) {
    made = CublasStatus(cublasLtMatmulPreferenceCreate(&pref), "preference");
  }
  if (made.ok()) {
    made = CublasStatus(cublasLtMatmulPreferenceSetAttribute(
                            pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                            &workspace_bytes_, sizeof(workspace_bytes_)),
                        "workspace preference");
  }
  if (made.ok()) {
    made = CublasStatus(cublasLtMatmulAlgoGetHeuristic(
                            handle_, probe.desc, probe.a, probe.b, probe.c,
                            probe.c, pref, kHeuristicResults, results, &found),
                        "heuristic");
  }
  absl::StatusOr<cublasLtMatmulAlgo_t> chosen = absl::NotFoundError(
      absl::StrCat("cublasLt: no algorithm for ", m, "x", n, "x", k));
  for (int i = 0; made.ok() && i < found && !chosen.ok(); ++i) {
    if (results[i].state != CUBLAS_STATUS_SUCCESS) continue;
    cublasLtMatmulAlgo_t algo = results[i].algo;
    if (no_split_k) {
      // One CTA reduces all of k for its tile: the per-element summation
      // order then depends on the tile configuration only.
      int32_t split = 1;
      cublasLtMatmulAlgoConfigSetAttribute(
          &algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &split, sizeof(split));
      uint32_t scheme = CUBLASLT_REDUCTION_SCHEME_NONE;
      cublasLtMatmulAlgoConfigSetAttribute(
          &algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme,
          sizeof(scheme));
      cublasLtMatmulHeuristicResult_t check{};
      if (cublasLtMatmulAlgoCheck(handle_, probe.desc, probe.a, probe.b,
                                  probe.c, probe.c, &algo,
                                  &check) != CUBLAS_STATUS_SUCCESS ||
          check.workspaceSize > workspace_bytes_) {
        continue;
      }
    }
    chosen = algo;
  }
  if (pref != nullptr) cublasLtMatmulPreferenceDestroy(pref);
  if (probe.a != nullptr) cublasLtMatrixLayoutDestroy(probe.a);
  if (probe.b != nullptr) cublasLtMatrixLayoutDestroy(probe.b);
  if (probe.c != nullptr) cublasLtMatrixLayoutDestroy(probe.c);
  if (probe.desc != nullptr) cublasLtMatmulDescDestroy(probe.desc);
  RETURN_IF_ERROR(made);
  return chosen;
}

absl::StatusOr<Gemm::Plan*> Gemm::GetPlan(int64_t n, int64_t k, int64_t m) {
  auto key = std::make_tuple(n, k, m);
  auto it = plans_.find(key);
  if (it != plans_.end()) return &it->second;
  Plan plan;
  RETURN_IF_ERROR(MakeLayouts(n, k, m, &plan));
  if (batch_invariant_) {
    auto pinned = pinned_.find({n, k});
    if (pinned == pinned_.end()) {
      ASSIGN_OR_RETURN(cublasLtMatmulAlgo_t algo,
                       Choose(n, k, kPinnedM, /*no_split_k=*/true));
      pinned = pinned_.emplace(std::make_tuple(n, k), algo).first;
    }
    plan.algo = pinned->second;
    cublasLtMatmulHeuristicResult_t check{};
    RETURN_IF_ERROR(CublasStatus(
        cublasLtMatmulAlgoCheck(handle_, plan.desc, plan.a, plan.b, plan.c,
                                plan.c, &plan.algo, &check),
        "pinned algorithm does not fit this shape"));
  } else {
    ASSIGN_OR_RETURN(plan.algo, Choose(n, k, m, /*no_split_k=*/false));
  }
  return &plans_.emplace(key, plan).first->second;
}

absl::Status Gemm::Run(const void* w, int64_t n, int64_t k, const void* x,
                       int64_t m, float* y, bool accumulate,
                       cudaStream_t stream) {
  if (m == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(Plan * plan, GetPlan(n, k, m));
  const float alpha = 1.0f;
  const float beta = accumulate ? 1.0f : 0.0f;
  return CublasStatus(
      cublasLtMatmul(handle_, plan->desc, &alpha, w, plan->a, x, plan->b, &beta,
                     y, plan->c, y, plan->c, &plan->algo, workspace_,
                     workspace_bytes_, stream),
      "matmul");
}

}  // namespace evald::runners::native::cuda
