#include "runners/native/cpu/cpu_ops.h"

// GCC 12 reports its own _mm512_undefined_* placeholders inside the AVX-512
// intrinsics as uninitialized (a compiler bug); nothing here reads them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "runners/native/cpu/cpu_gemm.h"
#include "runners/native/model/model.h"

namespace evald::runners::native::cpu {
namespace {

#define EVALD_AVX512 __attribute__((target("avx512f,fma,avx2")))

// exp(x) for x <= 0 (the softmax arguments), to ~2 ulp: x = n ln2 + r with a
// two-part ln2, a degree-6 Taylor polynomial on |r| <= ln2 / 2, then 2^n
// through the exponent bits. Arguments below -87 give 0. The scalar and
// AVX-512 versions perform the same operations, so they agree bit for bit.
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kExpMin = -87.0f;
constexpr float kExpC[7] = {1.0f,      1.0f,       0.5f,      1.0f / 6,
                            1.0f / 24, 1.0f / 120, 1.0f / 720};

float ExpScalar(float x) {
  x = std::max(x, kExpMin);
  const float n = std::nearbyint(x * kLog2e);
  float r = std::fma(n, -kLn2Hi, x);
  r = std::fma(n, -kLn2Lo, r);
  float p = kExpC[6];
  for (int k = 5; k >= 0; --k) p = std::fma(p, r, kExpC[k]);
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127)
                        << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

EVALD_AVX512 inline __m512 ExpAvx512(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(kExpMin));
  const __m512 n =
      _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2Hi), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpC[6]);
  for (int k = 5; k >= 0; --k)
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpC[k]));
  const __m512i bits = _mm512_slli_epi32(
      _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

EVALD_AVX512 inline float ReduceAvx512(__m512 v) {
  const __m256 lo = _mm512_castps512_ps256(v);
  const __m256 hi = _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, 0x0e));
  const __m256 a = _mm256_add_ps(lo, hi);
  const __m128 b =
      _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

// Largest query-head group handled in one task (GQA heads per kv head).
constexpr int kMaxGroup = 16;

// Gemma's soft-capping of the scores [lo, count) of `group` heads:
// cap * tanh(x / cap), the same scalar operations on every path.
void SoftcapScores(float (*scores)[model::kKvBlockSize], int group, int lo,
                   int count, float cap) {
  for (int i = 0; i < group; ++i) {
    for (int j = lo; j < count; ++j) {
      scores[i][j] = std::tanh(scores[i][j] / cap) * cap;
    }
  }
}

// Attention for the `group` query heads that share kv head `kv_head`, over
// positions [row.first, row.position]. q and out: [group, head_dim]. Online
// softmax block by block in position order; within a block, scores, the running
// max and the rescale are per head and the weighted V sum goes position by
// position. `Simd` picks the AVX-512 path (head_dim % 16 == 0) or the
// portable one; both perform the same operations.
template <bool kSimd>
void AttendGroupImpl(const float* q, int group, const AttentionRow& row,
                     int kv_head, const float* k_cache, const float* v_cache,
                     const AttentionShape& s, float* out);

template <>
void AttendGroupImpl<false>(const float* q, int group, const AttentionRow& row,
                            int kv_head, const float* k_cache,
                            const float* v_cache, const AttentionShape& s,
                            float* out) {
  const int d = s.head_dim;
  const int64_t slot_stride = static_cast<int64_t>(s.num_kv_heads) * d;
  const int64_t block_stride = slot_stride * model::kKvBlockSize;
  const float scale =
      s.scale > 0 ? s.scale : 1.0f / std::sqrt(static_cast<float>(d));
  float m[kMaxGroup], l[kMaxGroup];
  float scores[kMaxGroup][model::kKvBlockSize];
  for (int i = 0; i < group; ++i) {
    m[i] = -std::numeric_limits<float>::infinity();
    l[i] = 0.0f;
  }
  std::fill(out, out + static_cast<int64_t>(group) * d, 0.0f);
  const int num_blocks = row.position / model::kKvBlockSize + 1;
  for (int b = row.first / model::kKvBlockSize; b < num_blocks; ++b) {
    const int64_t base =
        static_cast<int64_t>(row.block_table[b]) * block_stride +
        static_cast<int64_t>(kv_head) * d;
    const int count = std::min(model::kKvBlockSize,
                               row.position + 1 - b * model::kKvBlockSize);
    const int lo = std::max(0, row.first - b * model::kKvBlockSize);
    for (int j = lo; j < count; ++j) {
      for (int i = 0; i < group; ++i) {
        scores[i][j] =
            DotCanonical(q + i * d, k_cache + base + j * slot_stride, d) *
            scale;
      }
    }
    if (s.softcap > 0) SoftcapScores(scores, group, lo, count, s.softcap);
    for (int i = 0; i < group; ++i) {
      float block_max = -std::numeric_limits<float>::infinity();
      for (int j = lo; j < count; ++j)
        block_max = std::max(block_max, scores[i][j]);
      const float m_new = std::max(m[i], block_max);
      if (m_new > m[i]) {
        const float correction = ExpScalar(m[i] - m_new);
        l[i] *= correction;
        for (int c = 0; c < d; ++c) out[i * d + c] *= correction;
        m[i] = m_new;
      }
      for (int j = lo; j < count; ++j)
        scores[i][j] = ExpScalar(scores[i][j] - m[i]);
      for (int j = lo; j < count; ++j) l[i] += scores[i][j];
    }
    for (int j = lo; j < count; ++j) {
      const float* vj = v_cache + base + j * slot_stride;
      for (int i = 0; i < group; ++i) {
        for (int c = 0; c < d; ++c)
          out[i * d + c] = std::fma(scores[i][j], vj[c], out[i * d + c]);
      }
    }
  }
  for (int i = 0; i < group; ++i) {
    const float inv = 1.0f / l[i];
    for (int c = 0; c < d; ++c) out[i * d + c] *= inv;
  }
}

template <>
EVALD_AVX512 void AttendGroupImpl<true>(const float* q, int group,
                                        const AttentionRow& row, int kv_head,
                                        const float* k_cache,
                                        const float* v_cache,
                                        const AttentionShape& s, float* out) {
  const int d = s.head_dim;
  const int nv = d / 16;
  const int64_t slot_stride = static_cast<int64_t>(s.num_kv_heads) * d;
  const int64_t block_stride = slot_stride * model::kKvBlockSize;
  const float scale =
      s.scale > 0 ? s.scale : 1.0f / std::sqrt(static_cast<float>(d));
  float m[kMaxGroup], l[kMaxGroup];
  alignas(64) float scores[kMaxGroup][model::kKvBlockSize];
  for (int i = 0; i < group; ++i) {
    m[i] = -std::numeric_limits<float>::infinity();
    l[i] = 0.0f;
  }
  std::fill(out, out + static_cast<int64_t>(group) * d, 0.0f);
  const int num_blocks = row.position / model::kKvBlockSize + 1;
  for (int b = row.first / model::kKvBlockSize; b < num_blocks; ++b) {
    const int64_t base =
        static_cast<int64_t>(row.block_table[b]) * block_stride +
        static_cast<int64_t>(kv_head) * d;
    const int count = std::min(model::kKvBlockSize,
                               row.position + 1 - b * model::kKvBlockSize);
    const int lo = std::max(0, row.first - b * model::kKvBlockSize);
    for (int j = lo; j < count; ++j) {
      const float* kj = k_cache + base + j * slot_stride;
      for (int i = 0; i < group; ++i) {
        const float* qi = q + i * d;
        __m512 acc = _mm512_setzero_ps();
        for (int c = 0; c < nv; ++c) {
          acc = _mm512_fmadd_ps(_mm512_loadu_ps(qi + 16 * c),
                                _mm512_loadu_ps(kj + 16 * c), acc);
        }
        scores[i][j] = ReduceAvx512(acc) * scale;
      }
    }
    if (s.softcap > 0) SoftcapScores(scores, group, lo, count, s.softcap);
    const __mmask16 valid =
        static_cast<__mmask16>(((1u << count) - 1u) & ~((1u << lo) - 1u));
    for (int i = 0; i < group; ++i) {
      float block_max = -std::numeric_limits<float>::infinity();
      for (int j = lo; j < count; ++j)
        block_max = std::max(block_max, scores[i][j]);
      const float m_new = std::max(m[i], block_max);
      float* oi = out + i * d;
      if (m_new > m[i]) {
        const float correction = ExpScalar(m[i] - m_new);
        l[i] *= correction;
        const __m512 cv = _mm512_set1_ps(correction);
        for (int c = 0; c < nv; ++c) {
          _mm512_storeu_ps(oi + 16 * c,
                           _mm512_mul_ps(_mm512_loadu_ps(oi + 16 * c), cv));
        }
        m[i] = m_new;
      }
      const __m512 sv = _mm512_maskz_loadu_ps(valid, scores[i]);
      _mm512_mask_storeu_ps(scores[i], valid,
                            ExpAvx512(_mm512_sub_ps(sv, _mm512_set1_ps(m[i]))));
      for (int j = lo; j < count; ++j) l[i] += scores[i][j];
    }
    for (int j = lo; j < count; ++j) {
      const float* vj = v_cache + base + j * slot_stride;
      for (int i = 0; i < group; ++i) {
        float* oi = out + i * d;
        const __m512 p = _mm512_set1_ps(scores[i][j]);
        for (int c = 0; c < nv; ++c) {
          _mm512_storeu_ps(oi + 16 * c,
                           _mm512_fmadd_ps(p, _mm512_loadu_ps(vj + 16 * c),
                                           _mm512_loadu_ps(oi + 16 * c)));
        }
      }
    }
  }
  for (int i = 0; i < group; ++i) {
    const __m512 inv = _mm512_set1_ps(1.0f / l[i]);
    float* oi = out + i * d;
    for (int c = 0; c < nv; ++c) {
      _mm512_storeu_ps(oi + 16 * c,
                       _mm512_mul_ps(_mm512_loadu_ps(oi + 16 * c), inv));
    }
  }
}

}  // namespace

void RmsNorm(const float* x, const float* weight, int64_t n, float eps,
             float* out) {
  const float sum_sq = DotCanonical(x, x, n);
  const float inv = 1.0f / std::sqrt(sum_sq / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inv);
}

void RopeCosSin(absl::Span<const double> inv_freq, int position, float* cos_out,
                float* sin_out) {
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const double angle = static_cast<double>(position) * inv_freq[i];
    cos_out[i] = static_cast<float>(std::cos(angle));
    sin_out[i] = static_cast<float>(std::sin(angle));
  }
}

void ApplyRope(float* x, int num_heads, int head_dim, const float* cos,
               const float* sin) {
  ApplyRope(x, num_heads, head_dim, head_dim, cos, sin);
}

void ApplyRope(float* x, int num_heads, int head_dim, int rotary_dim,
               const float* cos, const float* sin) {
  const int half = rotary_dim / 2;
  for (int h = 0; h < num_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      const float x1 = v[i];
      const float x2 = v[i + half];
      v[i] = x1 * cos[i] - x2 * sin[i];
      v[i + half] = x2 * cos[i] + x1 * sin[i];
    }
  }
}

void SiluMul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = (g / (1.0f + std::exp(-g))) * up[i];
  }
}

void GeluTanhMul(float* gate, const float* up, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float inner = kSqrt2OverPi * (g + 0.044715f * g * g * g);
    gate[i] = (0.5f * g * (1.0f + std::tanh(inner))) * up[i];
  }
}

void Attention(const float* q, absl::Span<const AttentionRow> rows,
               const float* k_cache, const float* v_cache,
               const AttentionShape& s, float* out, ThreadPool* pool) {
  const int group = s.num_heads / s.num_kv_heads;
  const int64_t row_stride = static_cast<int64_t>(s.num_heads) * s.head_dim;
  const bool simd = UseAvx512Kernels() && s.head_dim % 16 == 0;
  // One task per (row, kv head, slice of at most kMaxGroup query heads).
  const int slices = (group + kMaxGroup - 1) / kMaxGroup;
  const int64_t per_row = static_cast<int64_t>(s.num_kv_heads) * slices;
  const int64_t tasks = static_cast<int64_t>(rows.size()) * per_row;
  pool->ParallelRange(tasks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r = t / per_row;
      const int kv_head = static_cast<int>((t % per_row) / slices);
      const int slice = static_cast<int>(t % slices);
      const int first = kv_head * group + slice * kMaxGroup;
      const int n = std::min(kMaxGroup, group - slice * kMaxGroup);
      const int64_t offset =
          r * row_stride + static_cast<int64_t>(first) * s.head_dim;
      if (simd) {
        AttendGroupImpl<true>(q + offset, n, rows[r], kv_head, k_cache, v_cache,
                              s, out + offset);
      } else {
        AttendGroupImpl<false>(q + offset, n, rows[r], kv_head, k_cache,
                               v_cache, s, out + offset);
      }
    }
  });
}

}  // namespace evald::runners::native::cpu
