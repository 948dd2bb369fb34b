// File: runners/native/cuda/kernels.h
// -----------------------------------------------------------------------------
// The CUDA backend's own kernels (everything but the GEMMs, which go through
// cuBLASLt in gemm.h). Plain C++ declarations so host code compiled by the
// C++ compiler can call them; the definitions are in kernels.cu.
//
// Determinism: every reduction (RMSNorm sums, attention dot products and the
// softmax over keys) runs in an order fixed by the row's own data - block
// size, thread-to-element assignment and key order never depend on how many
// rows the launch has - so a row's result is the same whatever batch or
// prefill chunk it is computed in.
//
// All pointers are device pointers; every launch goes on `stream`.
#ifndef EVALD_RUNNERS_NATIVE_CUDA_KERNELS_H_
#define EVALD_RUNNERS_NATIVE_CUDA_KERNELS_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace evald::runners::native::cuda {

using bf16_t = uint16_t;  // __nv_bfloat16's bits, for host-side declarations
using f16_t = uint16_t;   // __half's bits

// The per-row metadata of one forward step.
struct RowInfo {
  int32_t token;
  int32_t position;
  int32_t table_offset;  // offset of the row's block table in the flat table
  int32_t slot;          // KV slot (block * 16 + position % 16) of this row
};

// GEMM inputs and the KV cache are FP16: BF16 weights convert to FP16
// exactly in the range weights live in, and FP16's 11-bit significand rounds
// activations 8x more finely than BF16 would. Conversions saturate at
// +-65504 instead of overflowing to infinity.

// h[r, :] = embed[rows[r].token, :] (BF16, or FP16 when `f16`, widened to
// FP32).
void EmbedGather(const bf16_t* embed, bool f16, const RowInfo* rows,
                 int num_rows, int hidden, float* h, cudaStream_t stream);

// out[r, :] = f16(w * x[src(r), :] / rms(x[src(r), :])), where src(r) =
// gather[r] when `gather` is non-null, else r.
void RmsNormToF16(const float* x, const int32_t* gather, const float* w,
                  int num_rows, int n, float eps, f16_t* out,
                  cudaStream_t stream);

// After the fused q/k/v product (qkv[r] = [q | k | v], FP32): adds biases
// (nullable), applies per-head RMSNorm to q and k (nullable norms), rotary
// embeddings from `inv_freq` (half = head_dim / 2 doubles), writes q to
// `q_out` (FP32, [rows, heads * head_dim]) and k, v to the caches (FP16,
// [slots, kv_heads * head_dim]) at each row's slot.
struct QkvShape {
  int num_heads;
  int num_kv_heads;
  int head_dim;
  float eps;
};
// QkvPost holds a row's q, k and v in dynamic shared memory: this many
// bytes, the size its launch asks for. Above kDefaultDynamicSharedBytes the
// kernel must opt in (cudaFuncAttributeMaxDynamicSharedMemorySize), which
// the launch does; above the device's opt-in maximum
// (cudaDevAttrMaxSharedMemoryPerBlockOptin) the shape cannot run, which
// QkvPostFits tells the model at load.
inline constexpr size_t kDefaultDynamicSharedBytes = size_t{48} << 10;
inline size_t QkvPostSharedBytes(const QkvShape& shape) {
  return sizeof(float) *
         (static_cast<size_t>(shape.num_heads) + 2 * shape.num_kv_heads) *
         static_cast<size_t>(shape.head_dim);
}
inline bool QkvPostFits(const QkvShape& shape, int device_optin_max_bytes) {
  return QkvPostSharedBytes(shape) <=
         static_cast<size_t>(device_optin_max_bytes);
}
// Returns the attribute or launch error (cudaErrorInvalidValue when the
// shared memory exceeds the current device's opt-in maximum).
cudaError_t QkvPost(const float* qkv, const RowInfo* rows, int num_rows,
                    const QkvShape& shape, const float* q_bias,
                    const float* k_bias, const float* v_bias,
                    const float* q_norm, const float* k_norm,
                    const double* inv_freq, float* q_out, f16_t* k_cache,
                    f16_t* v_cache, cudaStream_t stream);

// Causal attention of every row over positions [0, position] of its own
// sequence, read through its block table from the paged caches; output FP16
// [rows, heads * head_dim].
void PagedAttention(const float* q, const RowInfo* rows,
                    const int32_t* block_tables, int num_rows,
                    const QkvShape& shape, const f16_t* k_cache,
                    const f16_t* v_cache, f16_t* out, cudaStream_t stream);

// The same attention with up to kAttentionTileRows consecutive rows of one
// sequence per tile sharing each load of K and V (attention_tiled.cu):
// bit-identical to PagedAttention, far less cache traffic in prefill.
// `tiles` cover every row once; a tile's rows share one block table (one
// sequence) and its last row has the highest position.
inline constexpr int kAttentionTileRows = 8;
struct RowTile {
  int32_t first;  // first row of the tile
  int32_t count;  // 1..kAttentionTileRows
};
// Whether the tiled kernel's shared memory fits `device` at `head_dim`.
bool TiledAttentionFits(int head_dim, int device);
cudaError_t PagedAttentionTiled(const float* q, const RowInfo* rows,
                                const RowTile* tiles, int num_tiles,
                                const int32_t* block_tables,
                                const QkvShape& shape, const f16_t* k_cache,
                                const f16_t* v_cache, f16_t* out,
                                cudaStream_t stream);

// out[r, i] = f16(silu(gu[r, i]) * gu[r, inter + i]).
void SiluMulToF16(const float* gate_up, int num_rows, int inter, f16_t* out,
                  cudaStream_t stream);

// dst[i] = f16(bf16 src[i]) for n elements (weights at upload).
void Bf16ToF16(const bf16_t* src, int64_t n, f16_t* dst, cudaStream_t stream);

}  // namespace evald::runners::native::cuda

#endif  // EVALD_RUNNERS_NATIVE_CUDA_KERNELS_H_
