// File: runners/native/planner/footprint.h
// -----------------------------------------------------------------------------
// The memory footprint rules that the planner (daemon/planner.h, before
// anything loads), the engine (when it registers a loaded model with the
// device's KvBudget) and the CUDA model (when it sizes its device buffers)
// must agree on. GpuStepBufferBytes is the one rule for a GPU step's
// buffers: the CUDA model allocates exactly what it returns, and the
// planner counts it for max_batch_tokens, so the two cannot drift.
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
// 117 MiB for Llama-3.1-70B's gate/up). The CUDA model refuses a checkpoint
// whose products would need more.
inline constexpr int64_t kInt4WorkspaceBytes = int64_t{128} << 20;
// Rows of FP32 logits one step may bring back (CPU), and the rows the GPU
// puts through the lm_head at a time: scoring a 2,048-token echo runs the
// lm_head 8 times into one chunk-sized buffer.
inline constexpr int64_t kLogitRows = 256;
inline constexpr int64_t kLogitChunkRows = kLogitRows;
// BF16 -> FP16 weight conversion at load goes through a device buffer of
// this size, a piece at a time.
inline constexpr int64_t kWeightStagingBytes = int64_t{32} << 20;
// GPU step buffers are sized for a whole number of these tokens, so a batch
// that grows by a few tokens does not reallocate every step.
inline constexpr int64_t kStepTokenQuantum = 64;
// Device memory for the block tables of one step (int32 entries): 1M
// entries, 16M tokens of context over the step's sequences. A step that
// needs more grows its metadata buffer beyond what is counted.
inline constexpr int64_t kBlockTableBytes = int64_t{4} << 20;

// What the footprint of a decoder depends on (from config.json).
struct ModelShape {
  int64_t hidden = 0;
  int64_t intermediate = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab = 0;
  bool awq = false;  // AWQ INT4 projections
  // Mixture of experts (num_experts == 0: dense). The weights of every
  // expert are resident (they count in the checkpoint's bytes); these size
  // the CPU step's routing buffers.
  int64_t num_experts = 0;
  int64_t experts_per_token = 0;
  int64_t expert_intermediate = 0;
  int64_t shared_expert_intermediate = 0;
  // Gemma: a second RoPE table for the local layers (Gemma 3) and the
  // global layers' own attention rows (interleaved windows).
  bool local_rope = false;
  bool per_layer_window = false;
};

// The device buffers of one GPU forward step (runners/native/cuda/
// cuda_model.cc), in bytes.
struct GpuStepBuffers {
  int64_t tokens = 0;     // the token capacity they are sized for
  int64_t residual = 0;   // FP32 [t, hidden]
  int64_t normed = 0;     // FP16 [t, max(hidden, intermediate)]
  int64_t qkv = 0;        // FP32 [t, q_dim + 2 kv_dim]
  int64_t q = 0;          // FP32 [t, q_dim]
  int64_t attention = 0;  // FP16 [t, q_dim]
  int64_t gate_up = 0;    // FP32 [t, 2 intermediate]
  int64_t act = 0;        // FP16 [t, intermediate]
  int64_t logits = 0;     // FP32 [kLogitChunkRows, vocab]
  // Per-row metadata (16-byte row info, 4-byte logit gather, 8-byte
  // attention tile) and kBlockTableBytes of block tables.
  int64_t metadata = 0;
  int64_t Total() const {
    return residual + normed + qkv + q + attention + gate_up + act + logits +
           metadata;
  }
};

// `tokens` rounded up to a whole number of kStepTokenQuantum (0 stays 0).
inline int64_t StepTokenCapacity(int64_t tokens) {
  return (tokens + kStepTokenQuantum - 1) / kStepTokenQuantum *
         kStepTokenQuantum;
}

// The buffers of a GPU step of up to `tokens` tokens (rounded up by
// StepTokenCapacity); the logits buffer holds one chunk of scored rows
// however many rows are scored.
GpuStepBuffers GpuStepBufferBytes(const ModelShape& shape, int64_t tokens);

// The guaranteed KV pool in tokens: the suite's max_context (> 0), else
// kDefaultMinKvTokens.
inline int64_t MinKvTokens(int64_t max_context) {
  return max_context > 0 ? max_context : kDefaultMinKvTokens;
}

// Working memory of a model beside its weights and KV cache, for steps of up
// to `max_batch_tokens` tokens. On the GPU: GpuStepBufferBytes, the GEMM
// workspace, the INT4 workspace of an AWQ model and the load-time weight
// staging buffer. On the CPU: max_batch_tokens x (24 hidden + 10
// intermediate) bytes of activations and kLogitRows rows of FP32 logits,
// plus for MoE MoeCpuBytesPerToken per token.
int64_t MoeCpuBytesPerToken(const ModelShape& shape);
// What the CPU step needs per token beyond 24 hidden + 10 intermediate when
// the attention is wider than the model (num_heads x head_dim > hidden, as
// in Gemma 2 9B: q and the attention output), and Gemma's local RoPE
// cos/sin and global-layer attention rows.
int64_t WideAttentionCpuBytesPerToken(const ModelShape& shape);
int64_t WorkspaceBytes(const ModelShape& shape, int64_t max_batch_tokens,
                       bool gpu);

}  // namespace evald::runners::native::planner

#endif  // EVALD_RUNNERS_NATIVE_PLANNER_FOOTPRINT_H_
