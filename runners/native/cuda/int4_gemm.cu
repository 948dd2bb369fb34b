#include <cuda_fp16.h>

#include <algorithm>

#include "runners/native/cuda/int4_gemm.h"

namespace evald::runners::native::cuda {
namespace {

constexpr int kWordsPerBlock = 32;  // threadIdx.x: one packed word = 8 outputs
constexpr int kKSlices = 8;         // threadIdx.y: fixed split of K
constexpr int kRowsPerBlock =
    8;  // blockIdx.y: rows of x sharing one weight read

// One thread owns 8 output columns (one packed word) of up to 8 rows of x
// and a fixed K slice: it dequantises each weight once and applies it to
// every row of its tile. The slices are then added in order 0..7. Each
// output element's sum runs over the same K order whatever rows share the
// tile, so the result of a row never depends on its batch. Consecutive
// threads read consecutive qweight words, so every K step is one coalesced
// row read; x is broadcast.
//
// With `splits` > 1 the K range is first cut into that many equal parts,
// one per blockIdx.z, each written to its own plane of `partials`
// ([splits, m, rows]); AwqReduceKernel then adds the planes in order 0, 1,
// ... The split count depends on the matrix shape only (AwqSplits), so the
// order stays fixed per output element; it gives the GPU enough blocks at
// decode, where a narrow matrix has few column blocks.
__global__ void AwqGemmKernel(const int32_t* __restrict__ qweight,
                              const int32_t* __restrict__ qzeros,
                              const uint16_t* __restrict__ scales, int64_t rows,
                              int64_t cols, int group_size,
                              const __half* __restrict__ x, int64_t m,
                              float* __restrict__ y, bool accumulate,
                              int splits, float* __restrict__ partials) {
  __shared__ float partial[kKSlices][kWordsPerBlock][8];
  const int64_t words = rows / 8;
  const int64_t c =
      static_cast<int64_t>(blockIdx.x) * kWordsPerBlock + threadIdx.x;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kRowsPerBlock;
  const int tile =
      static_cast<int>(min(static_cast<int64_t>(kRowsPerBlock), m - row0));
  const int64_t part = (cols + splits - 1) / splits;
  const int64_t part0 = blockIdx.z * part;
  const int64_t part1 = min(cols, part0 + part);
  const int64_t slice = (part + kKSlices - 1) / kKSlices;
  const int64_t k0 = part0 + threadIdx.y * slice;
  const int64_t k1 = min(part1, k0 + slice);
  // Physical nibble of logical column j (inverse of {0, 2, 4, 6, 1, 3, 5, 7}).
  constexpr int kNibbleOf[8] = {0, 4, 1, 5, 2, 6, 3, 7};
  float acc[kRowsPerBlock][8];
#pragma unroll
  for (int r = 0; r < kRowsPerBlock; ++r) {
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[r][j] = 0.0f;
  }
  if (c < words) {
    const __half* x0 = x + row0 * cols;
    int64_t group = -1;
    float s[8];
    float z[8];
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t g = k / group_size;
      if (g != group) {
        group = g;
        const uint32_t zw =
            static_cast<uint32_t>(__ldg(qzeros + g * words + c));
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          z[j] = static_cast<float>((zw >> (4 * kNibbleOf[j])) & 15u);
          s[j] = __half2float(
              __ushort_as_half(__ldg(scales + g * rows + 8 * c + j)));
        }
      }
      const uint32_t qw = static_cast<uint32_t>(__ldg(qweight + k * words + c));
      float w[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        w[j] = (static_cast<float>((qw >> (4 * kNibbleOf[j])) & 15u) - z[j]) *
               s[j];
      }
#pragma unroll
      for (int r = 0; r < kRowsPerBlock; ++r) {
        if (r < tile) {
          const float xv = __half2float(x0[r * cols + k]);
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[r][j] = fmaf(xv, w[j], acc[r][j]);
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerBlock; ++r) {
    if (r >= tile) break;  // the same for every thread of the block
#pragma unroll
    for (int j = 0; j < 8; ++j)
      partial[threadIdx.y][threadIdx.x][j] = acc[r][j];
    __syncthreads();
    if (threadIdx.y == 0 && c < words) {
      const bool direct = splits == 1;
      float* yr = direct
                      ? y + (row0 + r) * rows + 8 * c
                      : partials + (blockIdx.z * m + row0 + r) * rows + 8 * c;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        float sum = partial[0][threadIdx.x][j];
        for (int sl = 1; sl < kKSlices; ++sl)
          sum += partial[sl][threadIdx.x][j];
        yr[j] = direct && accumulate ? yr[j] + sum : sum;
      }
    }
    __syncthreads();
  }
}

// y[r, c] (+)= sum over the planes of partials[:, r, c], in plane order.
__global__ void AwqReduceKernel(const float* __restrict__ partials, int splits,
                                int64_t m, int64_t rows, float* __restrict__ y,
                                bool accumulate) {
  const int64_t n = m * rows;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float sum = partials[i];
    for (int z = 1; z < splits; ++z) sum += partials[z * n + i];
    y[i] = accumulate ? y[i] + sum : sum;
  }
}

constexpr int64_t kTargetBlocks = 256;  // about two waves on 132 SMs at decode
constexpr int kMaxSplits = 16;
// Rows of x per launch when the K range is split (bounds the workspace).
constexpr int64_t kChunkRows = 256;

}  // namespace

int AwqSplits(const DeviceAwqMatrix& w) {
  const int64_t column_blocks =
      (w.rows / 8 + kWordsPerBlock - 1) / kWordsPerBlock;
  int splits = 1;
  // Each split keeps at least 512 inputs (8 slices of 64).
  while (column_blocks * splits < kTargetBlocks && splits < kMaxSplits &&
         w.cols / (2 * splits) >= 512) {
    splits *= 2;
  }
  return splits;
}

size_t AwqWorkspaceBytes(const DeviceAwqMatrix& w) {
  const int splits = AwqSplits(w);
  return splits == 1 ? 0
                     : static_cast<size_t>(splits) * kChunkRows * w.rows *
                           sizeof(float);
}

cudaError_t AwqMatMul(const DeviceAwqMatrix& w, const uint16_t* x, int64_t m,
                      float* y, bool accumulate, float* workspace,
                      size_t workspace_bytes, cudaStream_t stream) {
  if (m < 0 || w.rows <= 0 || w.rows % 8 != 0 || w.group_size <= 0 ||
      w.cols % w.group_size != 0) {
    return cudaErrorInvalidValue;
  }
  if (m == 0) return cudaSuccess;
  const int splits = AwqSplits(w);
  if (splits > 1 &&
      (workspace == nullptr || workspace_bytes < AwqWorkspaceBytes(w))) {
    return cudaErrorInvalidValue;
  }
  const int64_t words = w.rows / 8;
  const dim3 block(kWordsPerBlock, kKSlices);
  const __half* xh = reinterpret_cast<const __half*>(x);
  // Rows are independent, so cutting m into chunks changes no result.
  const int64_t chunk =
      splits == 1 ? int64_t{65535} * kRowsPerBlock : kChunkRows;
  for (int64_t r0 = 0; r0 < m; r0 += chunk) {
    const int64_t rows_here = std::min(chunk, m - r0);
    const dim3 grid(
        static_cast<unsigned>((words + kWordsPerBlock - 1) / kWordsPerBlock),
        static_cast<unsigned>((rows_here + kRowsPerBlock - 1) / kRowsPerBlock),
        static_cast<unsigned>(splits));
    AwqGemmKernel<<<grid, block, 0, stream>>>(
        w.qweight, w.qzeros, w.scales, w.rows, w.cols, w.group_size,
        xh + r0 * w.cols, rows_here, y + r0 * w.rows, accumulate, splits,
        workspace);
    if (splits > 1) {
      const int64_t n = rows_here * w.rows;
      const int threads = 256;
      const unsigned blocks = static_cast<unsigned>(
          std::min<int64_t>((n + threads - 1) / threads, 4096));
      AwqReduceKernel<<<blocks, threads, 0, stream>>>(
          workspace, splits, rows_here, w.rows, y + r0 * w.rows, accumulate);
    }
  }
  return cudaGetLastError();
}

}  // namespace evald::runners::native::cuda
