// File: runners/native/cuda/device_math.cuh
// -----------------------------------------------------------------------------
// Device helpers shared by the backend's kernels: 16-bit conversions, the
// fixed-order warp sum, and the two steps of paged attention (one chunk of
// 32 keys into a warp's online softmax; the merge of the warps' partials).
// The per-row attention kernel (kernels.cu) and the tiled one
// (attention_tiled.cu) both run these, so their results are the same bits by
// construction: only where K and V are read from differs. Their arithmetic
// is written with explicit round-to-nearest intrinsics (__fmaf_rn,
// __fmul_rn, __fadd_rn, ...), which the compiler never contracts or
// reassociates, so the two kernels cannot end up with different
// instructions for the same expression whatever nvcc's -fmad setting or
// inlining decides.
#ifndef EVALD_RUNNERS_NATIVE_CUDA_DEVICE_MATH_CUH_
#define EVALD_RUNNERS_NATIVE_CUDA_DEVICE_MATH_CUH_

#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "runners/native/cuda/kernels.h"

namespace evald::runners::native::cuda::device {

inline constexpr int kWarp = 32;
inline constexpr int kKvBlock = 16;
inline constexpr int kMaxHeadDimPerLane = 8;  // head_dim <= 256
inline constexpr int kAttnWarps = 4;  // warp w takes key chunks w, w + 4, ...

__device__ __forceinline__ f16_t F32ToF16(float v) {
  __half h = __float2half_rn(fminf(fmaxf(v, -65504.0f), 65504.0f));
  return __half_as_ushort(h);
}

__device__ __forceinline__ float F16ToF32(f16_t v) {
  return __half2float(__ushort_as_half(v));
}

// Sum over a warp by a fixed xor-butterfly; every lane gets the same value.
__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}

// The softmax scale 1 / sqrt(head_dim), the same bits in every kernel.
__device__ __forceinline__ float AttentionScale(int hd) {
  return __fdiv_rn(1.0f, __fsqrt_rn(static_cast<float>(hd)));
}

// A warp's online-softmax state for one (row, head).
struct SoftmaxState {
  float m = -INFINITY;
  float l = 0.0f;
  float acc[kMaxHeadDimPerLane] = {};
};

// Folds one chunk of 32 keys into `st`. Lane i scores key `chunk * 32 + i`
// against `q` (shared memory, hd floats) from `k_row` (its key's row, read
// only when valid, i.e. key <= last); `v_row(k)` gives key k's value row and
// is called by every lane with the same k.
template <typename VRow>
__device__ __forceinline__ void AttendChunk(int chunk, int last, const float* q,
                                            const f16_t* k_row, VRow v_row,
                                            int hd, float scale,
                                            SoftmaxState* st) {
  const int lane = threadIdx.x % kWarp;
  const int key = chunk * kWarp + lane;
  const bool valid = key <= last;
  float s = -INFINITY;
  if (valid) {
    const __half2* kp = reinterpret_cast<const __half2*>(k_row);
    float dot = 0.0f;
    for (int d = 0; d < hd / 2; ++d) {
      const float2 kv = __half22float2(kp[d]);
      dot = __fmaf_rn(q[2 * d], kv.x, dot);
      dot = __fmaf_rn(q[2 * d + 1], kv.y, dot);
    }
    s = __fmul_rn(dot, scale);
  }
  float chunk_max = s;
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    chunk_max =
        fmaxf(chunk_max, __shfl_xor_sync(0xffffffffu, chunk_max, offset));
  }
  const float m_new = fmaxf(st->m, chunk_max);
  const float correction = __expf(__fsub_rn(st->m, m_new));
  const float p = valid ? __expf(__fsub_rn(s, m_new)) : 0.0f;
  st->l = __fmaf_rn(st->l, correction, WarpSum(p));
#pragma unroll
  for (int j = 0; j < kMaxHeadDimPerLane; ++j)
    st->acc[j] = __fmul_rn(st->acc[j], correction);
  const int keys = min(kWarp, last - chunk * kWarp + 1);
  for (int k = 0; k < keys; ++k) {
    const float pk = __shfl_sync(0xffffffffu, p, k);
    const f16_t* vp = v_row(k);
#pragma unroll
    for (int j = 0; j < kMaxHeadDimPerLane; ++j) {
      const int d = lane + j * kWarp;
      if (d < hd) st->acc[j] = __fmaf_rn(pk, F16ToF32(vp[d]), st->acc[j]);
    }
  }
  st->m = m_new;
}

// A warp's partial for one (row, head) in shared memory: acc[hd], m, l.
__device__ __forceinline__ void StorePartial(const SoftmaxState& st, int hd,
                                             float* part) {
  const int lane = threadIdx.x % kWarp;
  if (lane == 0) {
    part[hd] = st.m;
    part[hd + 1] = st.l;
  }
#pragma unroll
  for (int j = 0; j < kMaxHeadDimPerLane; ++j) {
    const int d = lane + j * kWarp;
    if (d < hd) part[d] = st.acc[j];
  }
}

// One warp merges the kAttnWarps partials (warp w's at parts + w * stride)
// in warp order and writes the FP16 output row.
__device__ __forceinline__ void MergePartials(const float* parts, size_t stride,
                                              int hd, f16_t* out) {
  const int lane = threadIdx.x % kWarp;
  float big_m = -INFINITY;
  for (int w = 0; w < kAttnWarps; ++w)
    big_m = fmaxf(big_m, parts[w * stride + hd]);
  float total_l = 0.0f;
  float weight[kAttnWarps];
  for (int w = 0; w < kAttnWarps; ++w) {
    const float l = parts[w * stride + hd + 1];
    weight[w] =
        l > 0.0f ? __expf(__fsub_rn(parts[w * stride + hd], big_m)) : 0.0f;
    total_l = __fmaf_rn(l, weight[w], total_l);
  }
  const float inv = __fdiv_rn(1.0f, total_l);
  for (int d = lane; d < hd; d += kWarp) {
    float sum = 0.0f;
    for (int w = 0; w < kAttnWarps; ++w)
      sum = __fmaf_rn(parts[w * stride + d], weight[w], sum);
    out[d] = F32ToF16(__fmul_rn(sum, inv));
  }
}

}  // namespace evald::runners::native::cuda::device

#endif  // EVALD_RUNNERS_NATIVE_CUDA_DEVICE_MATH_CUH_
