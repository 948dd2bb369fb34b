// File: runners/native/model/weight_matrix.h
// -----------------------------------------------------------------------------
// How a checkpoint's weight matrix is seen by every backend: a borrowed view
// of its stored elements (dense BF16/F16/FP32, or AWQ INT4 packed), which the
// CPU kernels (runners/native/cpu/cpu_gemm.h) and the CUDA backend read in
// place. Plain value type.
#ifndef EVALD_RUNNERS_NATIVE_MODEL_WEIGHT_MATRIX_H_
#define EVALD_RUNNERS_NATIVE_MODEL_WEIGHT_MATRIX_H_

#include <cstdint>

#include "runners/native/model/dtype.h"

namespace evald::runners::native::model {

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

}  // namespace evald::runners::native::model

#endif  // EVALD_RUNNERS_NATIVE_MODEL_WEIGHT_MATRIX_H_
