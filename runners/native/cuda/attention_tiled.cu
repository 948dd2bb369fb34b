// Paged attention with query rows in tiles that share each key/value load.
//
// Every (row, head) runs the steps of the per-row kernel in kernels.cu
// (device_math.cuh: keys in chunks of 32 absolute positions, warp w of 4
// taking chunks w, w + 4, ..., an online softmax per warp in chunk order,
// the warps' partials merged in warp order). Only where the keys come from
// changes: a warp stages its chunk's K and V rows in shared memory once and
// applies them to every row of the tile, so a prefill chunk reads the cache
// once per tile instead of once per row. The results are therefore the same
// bits as the per-row kernel's, and as independent of the batch.
#include <cuda_fp16.h>

#include <cmath>

#include "runners/native/cuda/device_math.cuh"
#include "runners/native/cuda/kernels.h"

namespace evald::runners::native::cuda {
namespace {

using device::kAttnWarps;
using device::kKvBlock;
using device::kWarp;

size_t SharedBytes(int hd) {
  const size_t q = sizeof(float) * kAttentionTileRows * hd;
  const size_t kv = sizeof(f16_t) * 2 * kAttnWarps * kWarp * hd;
  const size_t part =
      sizeof(float) * kAttnWarps * kAttentionTileRows * (hd + 2);
  return q + (kv > part ? kv : part);
}

__global__ void TiledAttentionKernel(const float* q, const RowInfo* rows,
                                     const RowTile* tiles,
                                     const int32_t* block_tables,
                                     QkvShape shape, const f16_t* k_cache,
                                     const f16_t* v_cache, f16_t* out) {
  extern __shared__ float smem[];
  const int hd = shape.head_dim;
  float* q_s = smem;  // [tile][hd]
  f16_t* kv_s = reinterpret_cast<f16_t*>(smem + kAttentionTileRows *
                                                    hd);  // [warp][K|V][32][hd]
  float* part =
      smem + kAttentionTileRows * hd;  // after the loop: [row][warp][hd + 2]

  const RowTile tile = tiles[blockIdx.x];
  const int head = blockIdx.y;
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int group = shape.num_heads / shape.num_kv_heads;
  const int kv_head = head / group;
  const int kv_dim = shape.num_kv_heads * hd;
  const float scale = device::AttentionScale(hd);
  for (int i = 0; i < tile.count; ++i) {
    const float* qr =
        q + static_cast<int64_t>(tile.first + i) * shape.num_heads * hd +
        head * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) q_s[i * hd + d] = qr[d];
  }
  __syncthreads();
  // A tile's rows share a block table; the last has the highest position.
  const int32_t* table = block_tables + rows[tile.first].table_offset;
  const int last_of_tile = rows[tile.first + tile.count - 1].position;
  int last[kAttentionTileRows];
  device::SoftmaxState st[kAttentionTileRows];
#pragma unroll
  for (int i = 0; i < kAttentionTileRows; ++i) {
    last[i] = i < tile.count ? rows[tile.first + i].position : -1;
  }
  f16_t* k_s = kv_s + static_cast<size_t>(warp) * 2 * kWarp * hd;
  f16_t* v_s = k_s + kWarp * hd;
  for (int chunk = warp; chunk * kWarp <= last_of_tile; chunk += kAttnWarps) {
    const int key = chunk * kWarp + lane;
    int64_t slot = 0;
    if (key <= last_of_tile) {
      slot = static_cast<int64_t>(table[key / kKvBlock]) * kKvBlock +
             key % kKvBlock;
    }
    // Stage the chunk: key k's K and V rows, loaded by the whole warp.
    const int keys_of_tile = min(kWarp, last_of_tile - chunk * kWarp + 1);
    for (int k = 0; k < keys_of_tile; ++k) {
      const int64_t slot_k = __shfl_sync(0xffffffffu, slot, k);
      const f16_t* kp = k_cache + slot_k * kv_dim + kv_head * hd;
      const f16_t* vp = v_cache + slot_k * kv_dim + kv_head * hd;
      for (int d = lane; d < hd; d += kWarp) {
        k_s[k * hd + d] = kp[d];
        v_s[k * hd + d] = vp[d];
      }
    }
    __syncwarp();
    auto v_row = [&](int k) { return v_s + k * hd; };
#pragma unroll
    for (int i = 0; i < kAttentionTileRows; ++i) {
      if (chunk * kWarp > last[i]) continue;  // the same for the whole warp
      device::AttendChunk(chunk, last[i], q_s + i * hd, k_s + lane * hd, v_row,
                          hd, scale, &st[i]);
    }
    __syncwarp();
  }
  __syncthreads();               // the staging area becomes the partials
  const size_t stride = hd + 2;  // between the warps' partials of a row
#pragma unroll
  for (int i = 0; i < kAttentionTileRows; ++i) {
    if (i >= tile.count) break;
    device::StorePartial(
        st[i], hd,
        part + (static_cast<size_t>(i) * kAttnWarps + warp) * stride);
  }
  __syncthreads();
  // Warp w merges rows w, w + 4, ...
  for (int i = warp; i < tile.count; i += kAttnWarps) {
    device::MergePartials(
        part + static_cast<size_t>(i) * kAttnWarps * stride, stride, hd,
        out + static_cast<int64_t>(tile.first + i) * shape.num_heads * hd +
            head * hd);
  }
}

}  // namespace

bool TiledAttentionFits(int head_dim, int device) {
  int optin = 0;
  if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                             device) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return head_dim <= 256 && head_dim % 2 == 0 &&
         SharedBytes(head_dim) <= static_cast<size_t>(optin);
}

cudaError_t PagedAttentionTiled(const float* q, const RowInfo* rows,
                                const RowTile* tiles, int num_tiles,
                                const int32_t* block_tables,
                                const QkvShape& shape, const f16_t* k_cache,
                                const f16_t* v_cache, f16_t* out,
                                cudaStream_t stream) {
  if (num_tiles == 0) return cudaSuccess;
  const size_t smem = SharedBytes(shape.head_dim);
  const cudaError_t e = cudaFuncSetAttribute(
      TiledAttentionKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
      static_cast<int>(smem));
  if (e != cudaSuccess) return e;
  const dim3 grid(num_tiles, shape.num_heads);
  TiledAttentionKernel<<<grid, kAttnWarps * kWarp, smem, stream>>>(
      q, rows, tiles, block_tables, shape, k_cache, v_cache, out);
  return cudaGetLastError();
}

}  // namespace evald::runners::native::cuda
