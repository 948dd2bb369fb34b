#include "runners/native/cuda/int4_gemm.h"

#include <cuda_fp16.h>

namespace evald::engine::cuda {
namespace {

constexpr int kWordsPerBlock = 32;  // threadIdx.x: one packed word = 8 outputs
constexpr int kKSlices = 8;         // threadIdx.y: fixed split of K

// One thread owns 8 output columns (one packed word) and a fixed K slice; the
// slices are then added in order 0..7. Consecutive threads read consecutive
// qweight words, so every K step is one coalesced row read; x is broadcast.
__global__ void AwqGemvKernel(const int32_t* __restrict__ qweight,
                              const int32_t* __restrict__ qzeros,
                              const uint16_t* __restrict__ scales, int64_t rows, int64_t cols,
                              int group_size, const __nv_bfloat16* __restrict__ x,
                              float* __restrict__ y) {
  __shared__ float partial[kKSlices][kWordsPerBlock][8];
  const int64_t words = rows / 8;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kWordsPerBlock + threadIdx.x;
  const int64_t i = blockIdx.y;
  const int64_t slice = (cols + kKSlices - 1) / kKSlices;
  const int64_t k0 = threadIdx.y * slice;
  const int64_t k1 = min(cols, k0 + slice);
  // Physical nibble of logical column j (inverse of {0, 2, 4, 6, 1, 3, 5, 7}).
  constexpr int kNibbleOf[8] = {0, 4, 1, 5, 2, 6, 3, 7};
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  if (c < words) {
    const __nv_bfloat16* xr = x + i * cols;
    int64_t group = -1;
    float s[8];
    float z[8];
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t g = k / group_size;
      if (g != group) {
        group = g;
        const uint32_t zw = static_cast<uint32_t>(__ldg(qzeros + g * words + c));
        for (int j = 0; j < 8; ++j) {
          z[j] = static_cast<float>((zw >> (4 * kNibbleOf[j])) & 15u);
          s[j] = __half2float(__ushort_as_half(__ldg(scales + g * rows + 8 * c + j)));
        }
      }
      const uint32_t qw = static_cast<uint32_t>(__ldg(qweight + k * words + c));
      const float xv = __bfloat162float(xr[k]);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float q = static_cast<float>((qw >> (4 * kNibbleOf[j])) & 15u);
        acc[j] = fmaf(xv, (q - z[j]) * s[j], acc[j]);
      }
    }
  }
#pragma unroll
  for (int j = 0; j < 8; ++j) partial[threadIdx.y][threadIdx.x][j] = acc[j];
  __syncthreads();
  if (threadIdx.y == 0 && c < words) {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      float sum = partial[0][threadIdx.x][j];
      for (int sl = 1; sl < kKSlices; ++sl) sum += partial[sl][threadIdx.x][j];
      y[i * rows + 8 * c + j] = sum;
    }
  }
}

}  // namespace

cudaError_t AwqMatMul(const DeviceAwqMatrix& w, const __nv_bfloat16* x, int64_t m, float* y,
                      cudaStream_t stream) {
  if (m < 0 || w.rows <= 0 || w.rows % 8 != 0 || w.group_size <= 0 ||
      w.cols % w.group_size != 0 || m > 65535) {
    return cudaErrorInvalidValue;
  }
  if (m == 0) return cudaSuccess;
  const int64_t words = w.rows / 8;
  const dim3 block(kWordsPerBlock, kKSlices);
  const dim3 grid(static_cast<unsigned>((words + kWordsPerBlock - 1) / kWordsPerBlock),
                  static_cast<unsigned>(m));
  AwqGemvKernel<<<grid, block, 0, stream>>>(w.qweight, w.qzeros, w.scales, w.rows, w.cols,
                                            w.group_size, x, y);
  return cudaGetLastError();
}

}  // namespace evald::engine::cuda
