// File: runners/native/cuda/int4_gemm.h
// -----------------------------------------------------------------------------
// AWQ "gemm" INT4 matrix products on the GPU (layout: runners/native/model/
// cpu_gemm.h, WeightMatrix): y[m, rows] (FP32) = x[m, cols] (FP16, the CUDA
// model's GEMM input) * W^T with W[n, k] = (q[k, n] - z[k / g, n]) *
// s[k / g, n] dequantised to FP32 in registers and FP32 accumulation. One
// kernel serves decode and prefill: rows of x come in tiles of 8 that share
// each dequantised weight, so a prefill chunk reads the packed weights
// m / 8 times, not m times. It runs on CUDA cores (no tensor cores), which
// bounds prefill of an INT4 model by FP32 throughput.
//
// Batch invariance: every output element is reduced in one fixed order that
// depends only on the matrix shape (AwqSplits parts of K, each cut into 8
// slices summed serially, the slices added 0..7, then the parts added in
// order), never on m or on which rows share a tile, so a row's result is the
// same whatever it is batched with. The
// numerical reference is the CPU dequantising MatMul; results agree with it
// to FP32 rounding, not bit for bit.
//
// Thread-safety: stateless; launches on `stream` and returns the launch error.
#ifndef EVALD_RUNNERS_NATIVE_CUDA_INT4_GEMM_H_
#define EVALD_RUNNERS_NATIVE_CUDA_INT4_GEMM_H_

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace evald::runners::native::cuda {

// Device pointers, borrowed. rows % 8 == 0 (packed words); cols % group_size
// == 0.
struct DeviceAwqMatrix {
  const int32_t* qweight;  // [cols, rows / 8]
  const int32_t* qzeros;   // [cols / group_size, rows / 8]
  const uint16_t* scales;  // fp16 [cols / group_size, rows]
  int64_t rows;            // out_features
  int64_t cols;            // in_features
  int group_size;
};

// How many parts the K range of `w` is cut into (a function of the shape
// only): more when the matrix has few column blocks, so that decode keeps
// the GPU busy. The parts are summed in a fixed order.
int AwqSplits(const DeviceAwqMatrix& w);
// Device workspace AwqMatMul needs for `w` (0 when it is not split).
size_t AwqWorkspaceBytes(const DeviceAwqMatrix& w);

// y[m, w.rows] = x[m, w.cols] * W^T, or y += that with `accumulate` (the
// residual stream). `x` holds FP16 bits. `workspace` (FP32, at least
// AwqWorkspaceBytes(w)) may be null when that is 0. Returns
// cudaErrorInvalidValue for a bad shape or a short workspace, else the
// launch status.
cudaError_t AwqMatMul(const DeviceAwqMatrix& w, const uint16_t* x, int64_t m,
                      float* y, bool accumulate, float* workspace,
                      size_t workspace_bytes, cudaStream_t stream);

}  // namespace evald::runners::native::cuda

#endif  // EVALD_RUNNERS_NATIVE_CUDA_INT4_GEMM_H_
