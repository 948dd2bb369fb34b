// File: runners/native/cuda/gemm.h
// -----------------------------------------------------------------------------
// The CUDA backend's matrix products through cuBLASLt: y[m, n] (FP32) =
// x[m, k] (FP16, row-major) * w[n, k]^T (FP16, the Hugging Face Linear
// layout), FP32 accumulation, optionally added to what y holds (the residual
// stream).
//
// Batch invariance. cuBLASLt's heuristics pick a different kernel (tile
// shape, split-K) for different m, which changes the order in which a row's
// products are summed. In the invariant mode (the default) the algorithm of
// each (n, k) is chosen once, for a large m, with split-K off, and then used
// for every m: a row's result no longer depends on how many rows share the
// launch. The cost is speed at small m (a decode step runs a kernel tuned for
// prefill); the fast mode lets the heuristics choose per m.
//
// Thread-safety: not thread-safe; one Gemm per model (its stream's owner).
#ifndef EVALD_RUNNERS_NATIVE_CUDA_GEMM_H_
#define EVALD_RUNNERS_NATIVE_CUDA_GEMM_H_

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace evald::runners::native::cuda {

// A CUDA runtime error as a Status naming `what`.
absl::Status CudaStatus(cudaError_t error, const char* what);
absl::Status CublasStatus(cublasStatus_t status, const char* what);

class Gemm {
 public:
  static absl::StatusOr<std::unique_ptr<Gemm>> Create(bool batch_invariant);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  absl::Status Run(const void* w, int64_t n, int64_t k, const void* x,
                   int64_t m, float* y, bool accumulate, cudaStream_t stream);

  bool batch_invariant() const { return batch_invariant_; }

 private:
  Gemm(cublasLtHandle_t handle, void* workspace, size_t workspace_bytes,
       bool batch_invariant)
      : handle_(handle),
        workspace_(workspace),
        workspace_bytes_(workspace_bytes),
        batch_invariant_(batch_invariant) {}

  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr;
    cublasLtMatrixLayout_t b = nullptr;
    cublasLtMatrixLayout_t c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  absl::StatusOr<Plan*> GetPlan(int64_t n, int64_t k, int64_t m);
  absl::Status MakeLayouts(int64_t n, int64_t k, int64_t m, Plan* plan);
  absl::StatusOr<cublasLtMatmulAlgo_t> Choose(int64_t n, int64_t k, int64_t m,
                                              bool no_split_k);

  cublasLtHandle_t handle_;
  void* workspace_;
  size_t workspace_bytes_;
  bool batch_invariant_;
  std::map<std::tuple<int64_t, int64_t>, cublasLtMatmulAlgo_t>
      pinned_;                                                   // (n, k)
  std::map<std::tuple<int64_t, int64_t, int64_t>, Plan> plans_;  // (n, k, m)
};

}  // namespace evald::runners::native::cuda

#endif  // EVALD_RUNNERS_NATIVE_CUDA_GEMM_H_
