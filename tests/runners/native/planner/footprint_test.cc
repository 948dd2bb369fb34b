// File: tests/runners/native/planner/footprint_test.cc
// The GPU step buffers (what the CUDA model allocates, runners/native/cuda/
// cuda_model.cc) against the workspace the planner and the ledger count, at
// real model shapes. What each buffer must hold is written out here from the
// kernels' contracts (runners/native/cuda/kernels.h), independently of the
// footprint rule, so an undercounted buffer fails.
#include "runners/native/planner/footprint.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace evald::runners::native::planner {
namespace {

struct NamedShape {
  std::string name;
  ModelShape shape;
};

std::vector<NamedShape> Shapes() {
  return {
      {"Llama-3.1-8B BF16", ModelShape{.hidden = 4096,
                                       .intermediate = 14336,
                                       .num_heads = 32,
                                       .num_kv_heads = 8,
                                       .head_dim = 128,
                                       .vocab = 128256}},
      {"Llama-3.1-70B AWQ", ModelShape{.hidden = 8192,
                                       .intermediate = 28672,
                                       .num_heads = 64,
                                       .num_kv_heads = 8,
                                       .head_dim = 128,
                                       .vocab = 128256,
                                       .awq = true}},
  };
}

// Bytes each buffer needs for a step of `t` tokens scoring `scored` rows,
// from the kernels' contracts: FP32 residual stream, FP16 GEMM inputs (the
// normed rows, and the MLP's SiLU product reusing nothing), FP32 q/k/v and
// q after RoPE, FP16 attention output, FP32 gate|up, FP32 logits of the
// rows put through the lm_head at once (at most kLogitChunkRows), and per
// row a 16-byte RowInfo, a 4-byte gather index and an 8-byte tile.
struct Needs {
  int64_t residual, normed, qkv, q, attention, gate_up, act, logits, rows;
};
Needs NeedsOf(const ModelShape& s, int64_t t, int64_t scored) {
  const int64_t q_dim = s.num_heads * s.head_dim;
  const int64_t kv_dim = s.num_kv_heads * s.head_dim;
  return Needs{
      .residual = t * s.hidden * 4,
      .normed = t * std::max(s.hidden, s.intermediate) * 2,
      .qkv = t * (q_dim + 2 * kv_dim) * 4,
      .q = t * q_dim * 4,
      .attention = t * q_dim * 2,
      .gate_up = t * 2 * s.intermediate * 4,
      .act = t * s.intermediate * 2,
      .logits = std::min(scored, kLogitChunkRows) * s.vocab * 4,
      .rows = t * (16 + 4 + 8),
  };
}

TEST(FootprintTest, StepBuffersHoldEveryStepAndStayWithinTheCountedWorkspace) {
  constexpr int64_t kMaxBatchTokens = 2048;
  for (const NamedShape& ns : Shapes()) {
    SCOPED_TRACE(ns.name);
    const ModelShape& s = ns.shape;
    const int64_t counted = WorkspaceBytes(s, kMaxBatchTokens, /*gpu=*/true);
    // Buffers only grow, so what a run holds is the largest of each buffer
    // over its steps: every step size up to max_batch_tokens.
    GpuStepBuffers held;
    for (int64_t t : {1, 2, 17, 64, 65, 255, 1000, 2047, 2048}) {
      SCOPED_TRACE(t);
      const GpuStepBuffers b = GpuStepBufferBytes(s, t);
      const Needs n = NeedsOf(s, t, /*scored=*/t);
      EXPECT_GE(b.residual, n.residual);
      EXPECT_GE(b.normed, n.normed);
      EXPECT_GE(b.qkv, n.qkv);
      EXPECT_GE(b.q, n.q);
      EXPECT_GE(b.attention, n.attention);
      EXPECT_GE(b.gate_up, n.gate_up);
      EXPECT_GE(b.act, n.act);
      EXPECT_GE(b.logits, n.logits);
      EXPECT_GE(b.metadata, n.rows + kBlockTableBytes);
      held.residual = std::max(held.residual, b.residual);
      held.normed = std::max(held.normed, b.normed);
      held.qkv = std::max(held.qkv, b.qkv);
      held.q = std::max(held.q, b.q);
      held.attention = std::max(held.attention, b.attention);
      held.gate_up = std::max(held.gate_up, b.gate_up);
      held.act = std::max(held.act, b.act);
      held.logits = std::max(held.logits, b.logits);
      held.metadata = std::max(held.metadata, b.metadata);
    }
    // Beside the step buffers the GPU holds the GEMM workspace, the INT4
    // one for AWQ and, during the load, the weight staging buffer.
    const int64_t fixed = kGemmWorkspaceBytes +
                          (s.awq ? kInt4WorkspaceBytes : 0) +
                          kWeightStagingBytes;
    EXPECT_LE(held.Total() + fixed, counted);
    // And the count is not padded: no growth factor on top.
    EXPECT_EQ(held.Total() + fixed, counted);
    // The measure of the activations, T (14 h + 12 i + 8 kv) bytes
    // (q_dim = hidden for these shapes), is inside the count.
    const int64_t kv_dim = s.num_kv_heads * s.head_dim;
    EXPECT_GE(counted, kMaxBatchTokens *
                           (14 * s.hidden + 12 * s.intermediate + 8 * kv_dim));
  }
}

TEST(FootprintTest, EchoScoringAllocatesOneChunkOfLogits) {
  for (const NamedShape& ns : Shapes()) {
    SCOPED_TRACE(ns.name);
    // Prompt log-probs of a 2,048-token echo score all 2,048 rows.
    const GpuStepBuffers b = GpuStepBufferBytes(ns.shape, 2048);
    EXPECT_EQ(b.logits, kLogitChunkRows * ns.shape.vocab * 4);
    EXPECT_LT(b.logits, 2048 * ns.shape.vocab * 4);
    EXPECT_EQ(b.logits, int64_t{256} * 128256 * 4);  // 131 MB, not 1.05 GB
  }
}

TEST(FootprintTest, StepCapacityIsAWholeQuantumWithoutSlack) {
  EXPECT_EQ(StepTokenCapacity(0), 0);
  EXPECT_EQ(StepTokenCapacity(1), kStepTokenQuantum);
  EXPECT_EQ(StepTokenCapacity(kStepTokenQuantum), kStepTokenQuantum);
  EXPECT_EQ(StepTokenCapacity(kStepTokenQuantum + 1), 2 * kStepTokenQuantum);
  EXPECT_EQ(StepTokenCapacity(2048), 2048);
  const ModelShape s = Shapes()[0].shape;
  EXPECT_EQ(GpuStepBufferBytes(s, 2048).tokens, 2048);
  EXPECT_EQ(GpuStepBufferBytes(s, 2048).residual, 2048 * 4096 * 4);
}

TEST(FootprintTest, CpuWorkspaceKeepsItsRule) {
  const ModelShape s = Shapes()[0].shape;
  EXPECT_EQ(
      WorkspaceBytes(s, 512, /*gpu=*/false),
      512 * (24 * s.hidden + 10 * s.intermediate) + kLogitRows * s.vocab * 4);
}

// A MoE model's CPU step needs, beside the dense buffers, per token (FP32):
// the router logits over all experts, the outputs of its k experts, one
// expert's gathered input and output rows, that expert's gate and up rows,
// and Qwen2-MoE's shared expert (gate, up, output, gate logit)
// (runners/native/cpu/cpu_model.cc, MoeFfn). All experts stay resident; they
// count in the weights, not here.
TEST(FootprintTest, CpuWorkspaceCountsTheMoeBuffers) {
  const ModelShape mixtral{.hidden = 4096,
                           .intermediate = 14336,
                           .num_heads = 32,
                           .num_kv_heads = 8,
                           .head_dim = 128,
                           .vocab = 32000,
                           .num_experts = 8,
                           .experts_per_token = 2,
                           .expert_intermediate = 14336};
  ModelShape qwen2_moe{.hidden = 2048,
                       .intermediate = 5632,
                       .num_heads = 16,
                       .num_kv_heads = 16,
                       .head_dim = 128,
                       .vocab = 151936,
                       .num_experts = 60,
                       .experts_per_token = 4,
                       .expert_intermediate = 1408,
                       .shared_expert_intermediate = 5632};
  for (const ModelShape& s : {mixtral, qwen2_moe}) {
    ModelShape dense = s;
    dense.num_experts = dense.experts_per_token = 0;
    dense.expert_intermediate = dense.shared_expert_intermediate = 0;
    for (int64_t t : {1, 2048}) {
      const int64_t routing = t * s.num_experts * 4;
      const int64_t expert_outputs = t * s.experts_per_token * s.hidden * 4;
      const int64_t gathered = 2 * t * s.hidden * 4;
      const int64_t gate_up = 2 * t * s.expert_intermediate * 4;
      const int64_t shared =
          s.shared_expert_intermediate > 0
              ? t * (2 * s.shared_expert_intermediate + s.hidden + 1) * 4
              : 0;
      EXPECT_GE(WorkspaceBytes(s, t, false) - WorkspaceBytes(dense, t, false),
                routing + expert_outputs + gathered + gate_up + shared)
          << s.num_experts << " experts, " << t << " tokens";
    }
  }
}

// Gemma 2 9B's attention is wider than its hidden size (16 heads x 256 >
// 3584): q and the attention output [t, q_dim] outgrow the hidden-sized
// buffers; Gemma 3 adds the local layers' cos/sin [t, head_dim] and the
// global layers' attention rows (runners/native/cpu/cpu_model.cc).
TEST(FootprintTest, CpuWorkspaceCountsGemmaShapes) {
  ModelShape gemma2_9b{.hidden = 3584,
                       .intermediate = 14336,
                       .num_heads = 16,
                       .num_kv_heads = 8,
                       .head_dim = 256,
                       .vocab = 256000,
                       .per_layer_window = true};
  ModelShape plain = gemma2_9b;
  plain.num_heads = 14;  // q_dim == hidden
  plain.per_layer_window = false;
  ModelShape gemma3 = plain;
  gemma3.local_rope = true;
  gemma3.per_layer_window = true;
  for (int64_t t : {1, 2048}) {
    EXPECT_EQ(
        WorkspaceBytes(gemma2_9b, t, false) - WorkspaceBytes(plain, t, false),
        t * (2 * 4 * (16 * 256 - 3584) + 24));
    EXPECT_EQ(
        WorkspaceBytes(gemma3, t, false) - WorkspaceBytes(plain, t, false),
        t * (4 * 256 + 24));
  }
}

}  // namespace
}  // namespace evald::runners::native::planner
