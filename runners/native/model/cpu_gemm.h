// File: runners/native/model/cpu_gemm.h
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
#ifndef EVALD_RUNNERS_NATIVE_MODEL_CPU_GEMM_H_
#define EVALD_RUNNERS_NATIVE_MODEL_CPU_GEMM_H_

#include <cstdint>

#include "absl/types/span.h"
#include "runners/native/model/dtype.h"
#include "runners/native/model/thread_pool.h"

namespace evald::engine {

// How a matrix's elements are stored.
enum class WeightFormat {
  kDense,    // `data` holds rows x cols elements of `dtype`
  kAwqInt4,  // AWQ "GEMM" INT4: qweight/qzeros/scales below, `data` unused
};

// A row-major [rows, cols] weight (the Hugging Face Linear layout [out, in]).
// Borrowed: every pointer outlives every use. Dense: dtype is kBF16 or kF32.
//
// AWQ INT4 (format == kAwqInt4; rows = out_features, cols = in_features):
//   qweight int32 [cols, rows / 8]: 8 nibbles per word along the output dim,
//     physical nibble i (bits 4i..4i+3) holding logical column
//     8 c + {0, 2, 4, 6, 1, 3, 5, 7}[i];
//   qzeros  int32 [cols / group_size, rows / 8], packed the same way;
//   scales  fp16  [cols / group_size, rows];
//   W[n, k] = (q[k, n] - z[k / group_size, n]) * s[k / group_size, n].
struct WeightMatrix {
  DType dtype = DType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  WeightFormat format = WeightFormat::kDense;
  const int32_t* qweight = nullptr;
  const int32_t* qzeros = nullptr;
  const uint16_t* scales = nullptr;
  int group_size = 0;
};

// y[M, w.rows] = x[M, w.cols] * w^T; x and y are dense row-major.
void MatMul(const float* x, int64_t m, const WeightMatrix& w, float* y, ThreadPool* pool);

// Several products of the same x in one parallel step (q/k/v, gate/up):
// targets[i].y = x * targets[i].w^T.
struct MatMulTarget {
  const WeightMatrix* w;
  float* y;
};
void MatMulMany(const float* x, int64_t m, absl::Span<const MatMulTarget> targets,
                ThreadPool* pool);

// The opt-in BF16-activation path: x is rounded to BF16 (nearest even) and
// multiplied with BF16 weights by the AVX512_BF16 dot-product instruction,
// accumulating in FP32 in a fixed order (lane l takes the pairs (k, k + 1),
// k = 2 l, 2 l + 32, ...; the same lane tree). Faster, less exact: it is not
// the numerical reference. Falls back to MatMulMany when the CPU lacks
// AVX512_BF16, a weight is not BF16, or the portable kernels are forced -
// so its results depend on the machine, though never on the batch.
void MatMulManyBf16(const float* x, int64_t m, absl::Span<const MatMulTarget> targets,
                    ThreadPool* pool);
bool Bf16ActivationsSupported();

// Single-threaded MatMul restricted to output columns [n_begin, n_end); y
// keeps its full row stride w.rows.
void MatMulColumns(const float* x, int64_t m, const WeightMatrix& w, float* y, int64_t n_begin,
                   int64_t n_end);

// sum_i a[i] * b[i] in the canonical order above.
float DotCanonical(const float* a, const float* b, int64_t n);

// Dequantises output rows [n_begin, n_end) of an AWQ INT4 matrix to FP32:
// out[(n - n_begin) * w.cols + k] = (q - z) * s, the FP16 scale widened
// exactly, so every value is the exact FP32 product.
void DequantizeAwqRows(const WeightMatrix& w, int64_t n_begin, int64_t n_end, float* out);

// Widens row `row` of an embedding-style matrix into `out` (w.cols floats).
void ReadRow(const WeightMatrix& w, int64_t row, float* out);

// Which kernels MatMul uses ("avx512" or "portable"), for logs and benches.
const char* GemmIsa();

// True when the AVX-512 kernels are in use (supported and not forced off).
bool UseAvx512Kernels();

// Forces the portable kernels (tests compare the two paths).
void SetGemmPortableForTesting(bool portable);

}  // namespace evald::engine

#endif  // EVALD_RUNNERS_NATIVE_MODEL_CPU_GEMM_H_
