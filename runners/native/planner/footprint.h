// File: runners/native/planner/footprint.h
// -----------------------------------------------------------------------------
// The memory footprint rules that the planner (daemon/planner.h, before
// anything loads) and the engine (when it registers a loaded model with the
// device's KvBudget) must agree on.
//
// Thread-safety: constants and pure functions.
#ifndef EVALD_RUNNERS_NATIVE_PLANNER_FOOTPRINT_H_
#define EVALD_RUNNERS_NATIVE_PLANNER_FOOTPRINT_H_

#include <cstdint>

namespace evald::runners::native::planner {

// KV tokens a model is guaranteed when the suite does not cap its context.
inline constexpr int64_t kDefaultMinKvTokens = 8192;
// GPU memory held by the CUDA context, cuBLAS handles and the like.
inline constexpr int64_t kCudaContextReserve = int64_t{512} << 20;
// cuBLASLt workspace per model on the GPU.
inline constexpr int64_t kGemmWorkspaceBytes = int64_t{32} << 20;
// Split-K partials of the GPU's INT4 products (runners/native/cuda/
// int4_gemm.h: at most 16 parts x 256 rows of the widest AWQ projection;
// 117 MiB for Llama-3.1-70B's gate/up).
inline constexpr int64_t kInt4WorkspaceBytes = int64_t{128} << 20;
// Rows of FP32 logits one step may bring back.
inline constexpr int64_t kLogitRows = 256;

// The guaranteed KV pool in tokens: the suite's max_context (> 0), else
// kDefaultMinKvTokens.
inline int64_t MinKvTokens(int64_t max_context) {
  return max_context > 0 ? max_context : kDefaultMinKvTokens;
}

// Activations of one engine step of `max_batch_tokens` tokens, the logits of
// kLogitRows rows, and on the GPU the GEMM workspace (and the INT4 one for
// an AWQ model).
inline int64_t WorkspaceBytes(int64_t hidden, int64_t intermediate,
                              int64_t vocab, int64_t max_batch_tokens, bool gpu,
                              bool awq = false) {
  return max_batch_tokens * (24 * hidden + 10 * intermediate) +
         kLogitRows * vocab * 4 + (gpu ? kGemmWorkspaceBytes : 0) +
         (gpu && awq ? kInt4WorkspaceBytes : 0);
}

}  // namespace evald::runners::native::planner

#endif  // EVALD_RUNNERS_NATIVE_PLANNER_FOOTPRINT_H_
