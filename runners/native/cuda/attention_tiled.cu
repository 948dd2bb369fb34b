// Paged attention with query rows in tiles that share each key/value load.
//
// The arithmetic of every (row, head) is the one of PagedAttentionKernel in
// kernels.cu, operation for operation: keys in chunks of 32 absolute
// positions, warp w of 4 taking chunks w, w + 4, ..., one key per lane, the
// dot product over d in order, a butterfly max and sum per chunk, an online
// softmax per warp in chunk order, values accumulated key by key, the warps'
// partials merged in warp order. Only where the keys come from changes: a
// warp stages its chunk's K and V rows in shared memory once and applies them
// to every row of the tile, so a prefill chunk reads the cache once per tile
// instead of once per row. The results are therefore bit-identical to the
// per-row kernel, and as independent of the batch.
#include <cuda_fp16.h>

#include <cmath>

#include "runners/native/cuda/kernels.h"

namespace evald::engine::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kWarps = 4;
constexpr int kKvBlock = 16;
constexpr int kMaxPerLane = 8;  // head_dim <= 256

__device__ __forceinline__ float H2F(f16_t v) { return __half2float(__ushort_as_half(v)); }
__device__ __forceinline__ f16_t F2H(float v) {
  return __half_as_ushort(__float2half_rn(fminf(fmaxf(v, -65504.0f), 65504.0f)));
}
__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

size_t SharedBytes(int hd) {
  const size_t q = sizeof(float) * kAttentionTileRows * hd;
  const size_t kv = sizeof(f16_t) * 2 * kWarps * kWarp * hd;
  const size_t part = sizeof(float) * kWarps * kAttentionTileRows * (hd + 2);
  return q + (kv > part ? kv : part);
}

__global__ void TiledAttentionKernel(const float* q, const RowInfo* rows, const RowTile* tiles,
                                     const int32_t* block_tables, QkvShape shape,
                                     const f16_t* k_cache, const f16_t* v_cache, f16_t* out) {
  extern __shared__ float smem[];
  const int hd = shape.head_dim;
  float* q_s = smem;                                                     // [tile][hd]
  f16_t* kv_s = reinterpret_cast<f16_t*>(smem + kAttentionTileRows * hd);  // [warp][K|V][32][hd]
  float* part = smem + kAttentionTileRows * hd;  // after the loop: [warp][tile][hd + 2]

  const RowTile tile = tiles[blockIdx.x];
  const int head = blockIdx.y;
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int group = shape.num_heads / shape.num_kv_heads;
  const int kv_head = head / group;
  const int kv_dim = shape.num_kv_heads * hd;
  const float scale = 1.0f / sqrtf(static_cast<float>(hd));
  for (int i = 0; i < tile.count; ++i) {
    const float* qr = q + static_cast<int64_t>(tile.first + i) * shape.num_heads * hd + head * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) q_s[i * hd + d] = qr[d];
  }
  __syncthreads();
  // A tile's rows share a block table; the last has the highest position.
  const int32_t* table = block_tables + rows[tile.first].table_offset;
  const int last_of_tile = rows[tile.first + tile.count - 1].position;
  int last[kAttentionTileRows];
  float m[kAttentionTileRows], l[kAttentionTileRows];
  float acc[kAttentionTileRows][kMaxPerLane];
#pragma unroll
  for (int i = 0; i < kAttentionTileRows; ++i) {
    last[i] = i < tile.count ? rows[tile.first + i].position : -1;
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int j = 0; j < kMaxPerLane; ++j) acc[i][j] = 0.0f;
  }
  f16_t* k_s = kv_s + static_cast<size_t>(warp) * 2 * kWarp * hd;
  f16_t* v_s = k_s + kWarp * hd;
  for (int chunk = warp; chunk * kWarp <= last_of_tile; chunk += kWarps) {
    const int key = chunk * kWarp + lane;
    int64_t slot = 0;
    if (key <= last_of_tile) {
      slot = static_cast<int64_t>(table[key / kKvBlock]) * kKvBlock + key % kKvBlock;
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
#pragma unroll
    for (int i = 0; i < kAttentionTileRows; ++i) {
      if (chunk * kWarp > last[i]) continue;  // the same for the whole warp
      const bool valid = key <= last[i];
      float s = -INFINITY;
      if (valid) {
        const __half2* kp = reinterpret_cast<const __half2*>(k_s + lane * hd);
        const float* qi = q_s + i * hd;
        float dot = 0.0f;
        for (int d = 0; d < hd / 2; ++d) {
          const float2 kv = __half22float2(kp[d]);
          dot = fmaf(qi[2 * d], kv.x, dot);
          dot = fmaf(qi[2 * d + 1], kv.y, dot);
        }
        s = dot * scale;
      }
      float chunk_max = s;
      for (int offset = kWarp / 2; offset > 0; offset /= 2) {
        chunk_max = fmaxf(chunk_max, __shfl_xor_sync(0xffffffffu, chunk_max, offset));
      }
      const float m_new = fmaxf(m[i], chunk_max);
      const float correction = __expf(m[i] - m_new);
      const float p = valid ? __expf(s - m_new) : 0.0f;
      l[i] = l[i] * correction + WarpSum(p);
#pragma unroll
      for (int j = 0; j < kMaxPerLane; ++j) acc[i][j] *= correction;
      const int keys = min(kWarp, last[i] - chunk * kWarp + 1);
      for (int k = 0; k < keys; ++k) {
        const float pk = __shfl_sync(0xffffffffu, p, k);
        const f16_t* vr = v_s + k * hd;
#pragma unroll
        for (int j = 0; j < kMaxPerLane; ++j) {
          const int d = lane + j * kWarp;
          if (d < hd) acc[i][j] = fmaf(pk, H2F(vr[d]), acc[i][j]);
        }
      }
      m[i] = m_new;
    }
    __syncwarp();
  }
  __syncthreads();  // the staging area becomes the partials
#pragma unroll
  for (int i = 0; i < kAttentionTileRows; ++i) {
    if (i >= tile.count) break;
    float* pw = part + (static_cast<size_t>(warp) * kAttentionTileRows + i) * (hd + 2);
    if (lane == 0) {
      pw[hd] = m[i];
      pw[hd + 1] = l[i];
    }
#pragma unroll
    for (int j = 0; j < kMaxPerLane; ++j) {
      const int d = lane + j * kWarp;
      if (d < hd) pw[d] = acc[i][j];
    }
  }
  __syncthreads();
  // Warp w merges rows w, w + 4, ... in warp order, as the per-row kernel.
  for (int i = warp; i < tile.count; i += kWarps) {
    float big_m = -INFINITY;
    for (int w = 0; w < kWarps; ++w) {
      big_m = fmaxf(big_m, part[(static_cast<size_t>(w) * kAttentionTileRows + i) * (hd + 2) + hd]);
    }
    float total_l = 0.0f;
    float weight[kWarps];
    for (int w = 0; w < kWarps; ++w) {
      const float* pw = part + (static_cast<size_t>(w) * kAttentionTileRows + i) * (hd + 2);
      weight[w] = pw[hd + 1] > 0.0f ? __expf(pw[hd] - big_m) : 0.0f;
      total_l = fmaf(pw[hd + 1], weight[w], total_l);
    }
    const float inv = 1.0f / total_l;
    f16_t* o = out + static_cast<int64_t>(tile.first + i) * shape.num_heads * hd + head * hd;
    for (int d = lane; d < hd; d += kWarp) {
      float sum = 0.0f;
      for (int w = 0; w < kWarps; ++w) {
        sum = fmaf(part[(static_cast<size_t>(w) * kAttentionTileRows + i) * (hd + 2) + d],
                   weight[w], sum);
      }
      o[d] = F2H(sum * inv);
    }
  }
}

}  // namespace

bool TiledAttentionFits(int head_dim, int device) {
  int optin = 0;
  if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
      cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return head_dim <= 256 && head_dim % 2 == 0 &&
         SharedBytes(head_dim) <= static_cast<size_t>(optin);
}

cudaError_t PagedAttentionTiled(const float* q, const RowInfo* rows, const RowTile* tiles,
                                int num_tiles, const int32_t* block_tables, const QkvShape& shape,
                                const f16_t* k_cache, const f16_t* v_cache, f16_t* out,
                                cudaStream_t stream) {
  if (num_tiles == 0) return cudaSuccess;
  const size_t smem = SharedBytes(shape.head_dim);
  const cudaError_t e = cudaFuncSetAttribute(
      TiledAttentionKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (e != cudaSuccess) return e;
  const dim3 grid(num_tiles, shape.num_heads);
  TiledAttentionKernel<<<grid, kWarps * kWarp, smem, stream>>>(q, rows, tiles, block_tables, shape,
                                                               k_cache, v_cache, out);
  return cudaGetLastError();
}

}  // namespace evald::engine::cuda
