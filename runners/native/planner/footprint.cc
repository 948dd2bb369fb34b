// File: runners/native/planner/footprint.cc
#include "runners/native/planner/footprint.h"

#include <algorithm>

namespace evald::runners::native::planner {

GpuStepBuffers GpuStepBufferBytes(const ModelShape& s, int64_t tokens) {
  const int64_t t = StepTokenCapacity(tokens);
  const int64_t q_dim = s.num_heads * s.head_dim;
  const int64_t kv_dim = s.num_kv_heads * s.head_dim;
  GpuStepBuffers b;
  b.tokens = t;
  b.residual = t * s.hidden * 4;
  b.normed = t * std::max(s.hidden, s.intermediate) * 2;
  b.qkv = t * (q_dim + 2 * kv_dim) * 4;
  b.q = t * q_dim * 4;
  b.attention = t * q_dim * 2;
  b.gate_up = t * 2 * s.intermediate * 4;
  b.act = t * s.intermediate * 2;
  b.logits = kLogitChunkRows * s.vocab * 4;
  b.metadata = t * (16 + 4 + 8) + kBlockTableBytes;
  return b;
}

// FP32: router logits [E], the k expert outputs and the combined output
// [k + 1, hidden], one expert's gathered input and output [2, hidden], its
// gate and up [2, expert_intermediate], and the shared expert's gate, up,
// output and gate logit.
int64_t MoeCpuBytesPerToken(const ModelShape& s) {
  if (s.num_experts <= 0) return 0;
  return 4 * (s.num_experts + (s.experts_per_token + 3) * s.hidden +
              2 * s.expert_intermediate +
              (s.shared_expert_intermediate > 0
                   ? 2 * s.shared_expert_intermediate + s.hidden + 1
                   : 0));
}

int64_t WideAttentionCpuBytesPerToken(const ModelShape& s) {
  const int64_t q_dim = s.num_heads * s.head_dim;
  return 2 * 4 * std::max<int64_t>(0, q_dim - s.hidden) +
         (s.local_rope ? 4 * s.head_dim : 0) + (s.per_layer_window ? 24 : 0);
}

int64_t WorkspaceBytes(const ModelShape& s, int64_t max_batch_tokens,
                       bool gpu) {
  if (!gpu) {
    return max_batch_tokens *
               (24 * s.hidden + 10 * s.intermediate + MoeCpuBytesPerToken(s) +
                WideAttentionCpuBytesPerToken(s)) +
           kLogitRows * s.vocab * 4;
  }
  return GpuStepBufferBytes(s, max_batch_tokens).Total() + kGemmWorkspaceBytes +
         (s.awq ? kInt4WorkspaceBytes : 0) + kWeightStagingBytes;
}

}  // namespace evald::runners::native::planner
