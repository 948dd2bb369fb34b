// File: runners/native/cuda/kernels.cu
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "runners/native/cuda/device_math.cuh"
#include "runners/native/cuda/kernels.h"

namespace evald::runners::native::cuda {
namespace {

using device::F16ToF32;
using device::F32ToF16;
using device::kAttnWarps;
using device::kKvBlock;
using device::kWarp;
using device::WarpSum;

constexpr int kNormThreads = 256;

__device__ __forceinline__ float Bf16ToF32(bf16_t v) {
  return __uint_as_float(static_cast<unsigned>(v) << 16);
}

// Sum over a block of kNormThreads threads in a fixed order: warp sums, then
// the warp sums added in warp order by every thread.
__device__ float BlockSum(float v, float* scratch) {
  v = WarpSum(v);
  const int warp = threadIdx.x / kWarp;
  if (threadIdx.x % kWarp == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0;
  for (int w = 0; w < kNormThreads / kWarp; ++w) total += scratch[w];
  __syncthreads();
  return total;
}

__global__ void EmbedGatherKernel(const bf16_t* embed, bool f16,
                                  const RowInfo* rows, int hidden, float* h) {
  const int r = blockIdx.x;
  const uint16_t* src = embed + static_cast<int64_t>(rows[r].token) * hidden;
  float* dst = h + static_cast<int64_t>(r) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    dst[i] = f16 ? F16ToF32(src[i]) : Bf16ToF32(src[i]);
  }
}

__global__ void RmsNormKernel(const float* x, const int32_t* gather,
                              const float* w, int n, float eps, f16_t* out) {
  __shared__ float scratch[kNormThreads / kWarp];
  const int r = blockIdx.x;
  const int src_row = gather != nullptr ? gather[r] : r;
  const float* xr = x + static_cast<int64_t>(src_row) * n;
  float sum = 0;
  for (int i = threadIdx.x; i < n; i += kNormThreads)
    sum = fmaf(xr[i], xr[i], sum);
  sum = BlockSum(sum, scratch);
  const float inv = 1.0f / sqrtf(sum / static_cast<float>(n) + eps);
  f16_t* o = out + static_cast<int64_t>(r) * n;
  for (int i = threadIdx.x; i < n; i += kNormThreads)
    o[i] = F32ToF16(w[i] * (xr[i] * inv));
}

__global__ void QkvPostKernel(const float* qkv, const RowInfo* rows,
                              QkvShape shape, const float* q_bias,
                              const float* k_bias, const float* v_bias,
                              const float* q_norm, const float* k_norm,
                              const double* inv_freq, float* q_out,
                              f16_t* k_cache, f16_t* v_cache) {
  extern __shared__ float buf[];
  const int r = blockIdx.x;
  const int hd = shape.head_dim;
  const int q_dim = shape.num_heads * hd;
  const int kv_dim = shape.num_kv_heads * hd;
  const int width = q_dim + 2 * kv_dim;
  const float* src = qkv + static_cast<int64_t>(r) * width;
  for (int i = threadIdx.x; i < width; i += blockDim.x) {
    float v = src[i];
    if (q_bias != nullptr) {
      v += i < q_dim            ? q_bias[i]
           : i < q_dim + kv_dim ? k_bias[i - q_dim]
                                : v_bias[i - q_dim - kv_dim];
    }
    buf[i] = v;
  }
  __syncthreads();
  const int heads =
      shape.num_heads + shape.num_kv_heads;  // q heads, then k heads
  if (q_norm != nullptr) {
    const int warp = threadIdx.x / kWarp;
    const int lane = threadIdx.x % kWarp;
    for (int h = warp; h < heads; h += blockDim.x / kWarp) {
      float* v = buf + h * hd;  // k heads follow q heads directly
      float sum = 0;
      for (int d = lane; d < hd; d += kWarp) sum = fmaf(v[d], v[d], sum);
      sum = WarpSum(sum);
      const float inv = 1.0f / sqrtf(sum / static_cast<float>(hd) + shape.eps);
      const float* w = h < shape.num_heads ? q_norm : k_norm;
      __syncwarp();
      for (int d = lane; d < hd; d += kWarp) v[d] = w[d] * (v[d] * inv);
    }
    __syncthreads();
  }
  const int half = hd / 2;
  const double pos = static_cast<double>(rows[r].position);
  for (int p = threadIdx.x; p < heads * half; p += blockDim.x) {
    const int h = p / half;
    const int i = p % half;
    const double angle = pos * inv_freq[i];
    const float c = static_cast<float>(cos(angle));
    const float s = static_cast<float>(sin(angle));
    float* v = buf + h * hd;
    const float x1 = v[i];
    const float x2 = v[i + half];
    v[i] = x1 * c - x2 * s;
    v[i + half] = x2 * c + x1 * s;
  }
  __syncthreads();
  float* q = q_out + static_cast<int64_t>(r) * q_dim;
  for (int i = threadIdx.x; i < q_dim; i += blockDim.x) q[i] = buf[i];
  const int64_t slot = rows[r].slot;
  f16_t* kc = k_cache + slot * kv_dim;
  f16_t* vc = v_cache + slot * kv_dim;
  for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
    kc[i] = F32ToF16(buf[q_dim + i]);
    vc[i] = F32ToF16(buf[q_dim + kv_dim + i]);
  }
}

// One block of kAttnWarps warps per (row, head). Keys are cut into chunks of
// 32 absolute positions; warp w takes chunks w, w + kAttnWarps, ... and each
// lane scores one key of a chunk, so a chunk costs one round of loads. Each
// warp keeps an online softmax over its chunks in chunk order; the warps'
// partial results are then merged in warp order (device_math.cuh). The
// partition depends only on the row's own position, never on the batch or
// the prefill chunking.
__global__ void PagedAttentionKernel(const float* q, const RowInfo* rows,
                                     const int32_t* block_tables,
                                     QkvShape shape, const f16_t* k_cache,
                                     const f16_t* v_cache, f16_t* out) {
  __shared__ float q_s[256];
  __shared__ float parts[kAttnWarps][256 + 2];  // acc, m, l per warp
  const int r = blockIdx.x;
  const int head = blockIdx.y;
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int hd = shape.head_dim;
  const int group = shape.num_heads / shape.num_kv_heads;
  const int kv_head = head / group;
  const int kv_dim = shape.num_kv_heads * hd;
  const float scale = device::AttentionScale(hd);
  const float* qr =
      q + static_cast<int64_t>(r) * shape.num_heads * hd + head * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) q_s[d] = qr[d];
  __syncthreads();
  const int32_t* table = block_tables + rows[r].table_offset;
  const int last = rows[r].position;
  device::SoftmaxState st;
  for (int chunk = warp; chunk * kWarp <= last; chunk += kAttnWarps) {
    const int key = chunk * kWarp + lane;
    int64_t slot = 0;
    if (key <= last)
      slot = static_cast<int64_t>(table[key / kKvBlock]) * kKvBlock +
             key % kKvBlock;
    const f16_t* k_row = k_cache + slot * kv_dim + kv_head * hd;
    auto v_row = [&](int k) {
      return v_cache + __shfl_sync(0xffffffffu, slot, k) * kv_dim +
             kv_head * hd;
    };
    device::AttendChunk(chunk, last, q_s, k_row, v_row, hd, scale, &st);
  }
  device::StorePartial(st, hd, parts[warp]);
  __syncthreads();
  if (warp != 0) return;
  device::MergePartials(
      &parts[0][0], 256 + 2, hd,
      out + static_cast<int64_t>(r) * shape.num_heads * hd + head * hd);
}

__global__ void SiluMulKernel(const float* gate_up, int inter, f16_t* out) {
  const int r = blockIdx.x;
  const float* g = gate_up + static_cast<int64_t>(r) * 2 * inter;
  const float* u = g + inter;
  f16_t* o = out + static_cast<int64_t>(r) * inter;
  for (int i = threadIdx.x; i < inter; i += blockDim.x) {
    const float x = g[i];
    o[i] = F32ToF16((x / (1.0f + expf(-x))) * u[i]);
  }
}

__global__ void Bf16ToF16Kernel(const bf16_t* src, int64_t n, f16_t* dst) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    dst[i] = F32ToF16(Bf16ToF32(src[i]));
  }
}

}  // namespace

void EmbedGather(const bf16_t* embed, bool f16, const RowInfo* rows,
                 int num_rows, int hidden, float* h, cudaStream_t stream) {
  if (num_rows == 0) return;
  EmbedGatherKernel<<<num_rows, 256, 0, stream>>>(embed, f16, rows, hidden, h);
}

void RmsNormToF16(const float* x, const int32_t* gather, const float* w,
                  int num_rows, int n, float eps, f16_t* out,
                  cudaStream_t stream) {
  if (num_rows == 0) return;
  RmsNormKernel<<<num_rows, kNormThreads, 0, stream>>>(x, gather, w, n, eps,
                                                       out);
}

cudaError_t QkvPost(const float* qkv, const RowInfo* rows, int num_rows,
                    const QkvShape& shape, const float* q_bias,
                    const float* k_bias, const float* v_bias,
                    const float* q_norm, const float* k_norm,
                    const double* inv_freq, float* q_out, f16_t* k_cache,
                    f16_t* v_cache, cudaStream_t stream) {
  if (num_rows == 0) return cudaSuccess;
  const size_t smem = QkvPostSharedBytes(shape);
  if (smem > kDefaultDynamicSharedBytes) {
    const cudaError_t e = cudaFuncSetAttribute(
        QkvPostKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
        static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  QkvPostKernel<<<num_rows, 256, smem, stream>>>(
      qkv, rows, shape, q_bias, k_bias, v_bias, q_norm, k_norm, inv_freq, q_out,
      k_cache, v_cache);
  return cudaGetLastError();
}

void PagedAttention(const float* q, const RowInfo* rows,
                    const int32_t* block_tables, int num_rows,
                    const QkvShape& shape, const f16_t* k_cache,
                    const f16_t* v_cache, f16_t* out, cudaStream_t stream) {
  if (num_rows == 0) return;
  dim3 grid(num_rows, shape.num_heads);
  PagedAttentionKernel<<<grid, kAttnWarps * kWarp, 0, stream>>>(
      q, rows, block_tables, shape, k_cache, v_cache, out);
}

void SiluMulToF16(const float* gate_up, int num_rows, int inter, f16_t* out,
                  cudaStream_t stream) {
  if (num_rows == 0) return;
  SiluMulKernel<<<num_rows, 256, 0, stream>>>(gate_up, inter, out);
}

void Bf16ToF16(const bf16_t* src, int64_t n, f16_t* dst, cudaStream_t stream) {
  if (n == 0) return;
  Bf16ToF16Kernel<<<1024, 256, 0, stream>>>(src, n, dst);
}

}  // namespace evald::runners::native::cuda
