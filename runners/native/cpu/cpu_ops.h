// File: runners/native/cpu/cpu_ops.h
// -----------------------------------------------------------------------------
// The CPU backend's non-GEMM kernels: RMSNorm, rotary embeddings (HF
// rotate_half convention, llama3 frequency scaling), SwiGLU, and causal GQA
// attention over the paged KV cache with a fixed-order online softmax.
//
// Every kernel computes each output element from its own inputs in one fixed
// order (reductions use DotCanonical), so results do not depend on batch
// composition or threads. Elementwise steps use explicit fused multiply-adds
// on every instruction set, which keeps the AVX-512 and portable paths equal.
//
// Thread-safety: stateless; Attention uses `pool` and splits by (row, head).
#ifndef EVALD_RUNNERS_NATIVE_CPU_CPU_OPS_H_
#define EVALD_RUNNERS_NATIVE_CPU_CPU_OPS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "runners/native/cpu/thread_pool.h"
#include "runners/native/model/model_config.h"

namespace evald::runners::native::cpu {

// out[i] = weight[i] * (x[i] / sqrt(mean(x^2) + eps)); out may alias x.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps,
             float* out);

// cos/sin of position * inv_freq, each [head_dim / 2].
void RopeCosSin(absl::Span<const double> inv_freq, int position, float* cos_out,
                float* sin_out);

// Rotates `num_heads` heads of `head_dim` in place:
//   x1' = x1 cos - x2 sin, x2' = x2 cos + x1 sin (x1, x2 the two halves).
void ApplyRope(float* x, int num_heads, int head_dim, const float* cos,
               const float* sin);
// The same over the leading `rotary_dim` dimensions of each head (partial
// rotary: the halves are those of the rotated part; cos/sin are
// [rotary_dim / 2]); the rest pass through.
void ApplyRope(float* x, int num_heads, int head_dim, int rotary_dim,
               const float* cos, const float* sin);

// gate[i] = silu(gate[i]) * up[i].
void SiluMul(float* gate, const float* up, int64_t n);
// gate[i] = gelu_tanh(gate[i]) * up[i] (GeGLU; GELU's tanh approximation
// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))).
void GeluTanhMul(float* gate, const float* up, int64_t n);

// One query row of the batch for Attention.
struct AttentionRow {
  int position = 0;                      // attends to [first, position]
  const int32_t* block_table = nullptr;  // physical blocks of its sequence
  int first = 0;  // > 0 under a sliding window; the same ops otherwise
};

// Paged K or V of one layer: [num_blocks, kKvBlockSize, num_kv_heads,
// head_dim].
struct AttentionShape {
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  // Score scale; 0: 1 / sqrt(head_dim). Gemma: query_pre_attn_scalar^-1/2.
  float scale = 0.0f;
  // > 0: scores become softcap * tanh(score / softcap) (Gemma 2).
  float softcap = 0.0f;
};

// out[r, h, :] = softmax(q[r, h] . K[0..pos] / sqrt(d)) V[0..pos] for every
// row r and head h; q and out are [rows, num_heads * head_dim].
void Attention(const float* q, absl::Span<const AttentionRow> rows,
               const float* k_cache, const float* v_cache,
               const AttentionShape& shape, float* out, ThreadPool* pool);

}  // namespace evald::runners::native::cpu

#endif  // EVALD_RUNNERS_NATIVE_CPU_CPU_OPS_H_
