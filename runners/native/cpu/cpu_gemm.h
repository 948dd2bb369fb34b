// File: runners/native/cpu/cpu_gemm.h
// -----------------------------------------------------------------------------
// The CPU backend's matrix products, written for batch invariance.
//
// Canonical reduction order. Every output y[m, n] = sum_k x[m, k] * w[n, k] is
// computed as 16 lane sums, lane l accumulating k = l, l + 16, l + 32, ... with
// fused multiply-adds (a short final chunk is zero-padded), then the lanes are
// added in one fixed tree:
//     a[i] = l[i] + l[i + 8]  (i < 8), b[i] = a[i] + a[i + 4]  (i < 4),
//     c[i] = b[i] + b[i + 2]  (i < 2), y = c[0] + c[1].
// Tiling, the number of rows M, the thread count and the instruction set
// (AVX-512 or the portable fallback, which uses std::fma) change only which
// elements are computed together, never this order, so results are bit-equal
// across all of them.
//
// Weights are read in their stored dtype (BF16 widened to FP32 on the fly, or
// FP32); activations and accumulation are FP32. AWQ INT4 matrices are
// dequantised to FP32 a few output rows at a time and then take the FP32
// kernels, so they keep the same order and batch invariance.
//
// Thread-safety: stateless; MatMul uses `pool` and splits by output columns.
#ifndef EVALD_RUNNERS_NATIVE_CPU_CPU_GEMM_H_
#define EVALD_RUNNERS_NATIVE_CPU_CPU_GEMM_H_

#include <cstdint>

#include "absl/types/span.h"
#include "runners/native/cpu/thread_pool.h"
#include "runners/native/model/weight_matrix.h"

namespace evald::runners::native::cpu {

// y[M, w.rows] = x[M, w.cols] * w^T; x and y are dense row-major.
void MatMul(const float* x, int64_t m, const model::WeightMatrix& w, float* y,
            ThreadPool* pool);

// Several products of the same x in one parallel step (q/k/v, gate/up):
// targets[i].y = x * targets[i].w^T.
struct MatMulTarget {
  const model::WeightMatrix* w;
  float* y;
};
void MatMulMany(const float* x, int64_t m,
                absl::Span<const MatMulTarget> targets, ThreadPool* pool);

// Products of different inputs in one parallel step (the experts of a MoE
// layer): groups[i].y[m, w.rows] = groups[i].x[m, w.cols] * groups[i].w^T.
// Each product is bit-equal to MatMul of the same x and w.
struct MatMulGroup {
  const float* x;
  int64_t m;
  const model::WeightMatrix* w;
  float* y;
};
void MatMulGrouped(absl::Span<const MatMulGroup> groups, ThreadPool* pool);
// The opt-in BF16-activation path: x is rounded to BF16 (nearest even) and
// multiplied with BF16 weights by the AVX512_BF16 dot-product instruction,
// accumulating in FP32 in a fixed order (lane l takes the pairs (k, k + 1),
// k = 2 l, 2 l + 32, ...; the same lane tree). Faster, less exact: it is not
// the numerical reference. Falls back to MatMulMany when the CPU lacks
// AVX512_BF16, a weight is not BF16, or the portable kernels are forced -
// so its results depend on the machine, though never on the batch.
void MatMulManyBf16(const float* x, int64_t m,
                    absl::Span<const MatMulTarget> targets, ThreadPool* pool);
bool Bf16ActivationsSupported();

// Single-threaded MatMul restricted to output columns [n_begin, n_end); y
// keeps its full row stride w.rows.
void MatMulColumns(const float* x, int64_t m, const model::WeightMatrix& w,
                   float* y, int64_t n_begin, int64_t n_end);

// sum_i a[i] * b[i] in the canonical order above.
float DotCanonical(const float* a, const float* b, int64_t n);

// Dequantises output rows [n_begin, n_end) of an AWQ INT4 matrix to FP32:
// out[(n - n_begin) * w.cols + k] = (q - z) * s, the FP16 scale widened
// exactly, so every value is the exact FP32 product.
void DequantizeAwqRows(const model::WeightMatrix& w, int64_t n_begin,
                       int64_t n_end, float* out);

// Widens row `row` of an embedding-style matrix into `out` (w.cols floats).
void ReadRow(const model::WeightMatrix& w, int64_t row, float* out);

// Which kernels MatMul uses ("avx512" or "portable"), for logs and benches.
const char* GemmIsa();

// True when the AVX-512 kernels are in use (supported and not forced off).
bool UseAvx512Kernels();

// Forces the portable kernels (tests compare the two paths).
void SetGemmPortableForTesting(bool portable);

}  // namespace evald::runners::native::cpu

#endif  // EVALD_RUNNERS_NATIVE_CPU_CPU_GEMM_H_
