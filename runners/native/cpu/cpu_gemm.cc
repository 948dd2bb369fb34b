#include "runners/native/cpu/cpu_gemm.h"

// GCC 12 reports its own _mm512_undefined_* placeholders inside the AVX-512
// intrinsics as uninitialized (a compiler bug); nothing here reads them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

namespace evald::runners::native::cpu {
namespace {

constexpr int kLanes = 16;
constexpr int kMr = 4;   // x rows per micro-tile
constexpr int kNr = 6;   // weight rows per micro-tile
constexpr int kMc = 64;  // x rows kept hot in L2 while the weights stream
// K range per pass when K is long, so that an [kMc, kKc] block of x stays in
// L2 and an [kNr, kKc] slice of weights in L1.
constexpr int64_t kKc = 2048;

std::atomic<bool> force_portable{false};

bool HasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return has;
}

bool UseAvx512() {
  return HasAvx512() && !force_portable.load(std::memory_order_relaxed);
}

// ---- portable kernels -------------------------------------------------------

inline float ReduceLanes(const float* l) {
  float a[8], b[4], c[2];
  for (int i = 0; i < 8; ++i) a[i] = l[i] + l[i + 8];
  for (int i = 0; i < 4; ++i) b[i] = a[i] + a[i + 4];
  for (int i = 0; i < 2; ++i) c[i] = b[i] + b[i + 2];
  return c[0] + c[1];
}

inline float LoadWeight(model::DType dtype, const void* w, int64_t index) {
  if (dtype == model::DType::kBF16)
    return model::Bf16ToFloat(static_cast<const uint16_t*>(w)[index]);
  return static_cast<const float*>(w)[index];
}

void PortableTile(const float* x, int64_t ldx, int mr,
                  const model::WeightMatrix& w, int64_t n0, int nr, float* y,
                  int64_t ldy, int64_t data_row0) {
  const int64_t k_total = w.cols;
  for (int m = 0; m < mr; ++m) {
    for (int n = 0; n < nr; ++n) {
      float lanes[kLanes] = {};
      const float* xr = x + m * ldx;
      const int64_t wrow = (n0 + n - data_row0) * w.cols;
      for (int64_t k = 0; k < k_total; k += kLanes) {
        for (int l = 0; l < kLanes; ++l) {
          const bool in = k + l < k_total;
          const float xv = in ? xr[k + l] : 0.0f;
          const float wv =
              in ? LoadWeight(w.dtype, w.data, wrow + k + l) : 0.0f;
          lanes[l] = std::fma(xv, wv, lanes[l]);
        }
      }
      y[m * ldy + n0 + n] = ReduceLanes(lanes);
    }
  }
}

// ---- AVX-512 kernels
// ----------------------------------------------------------

#define EVALD_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,fma,avx2")))

EVALD_AVX512 inline float ReduceAvx512(__m512 v) {
  const __m256 lo = _mm512_castps512_ps256(v);
  const __m256 hi = _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, 0x0e));
  const __m256 a = _mm256_add_ps(lo, hi);
  const __m128 b =
      _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

template <bool kBf16>
EVALD_AVX512 inline __m512 LoadW16(const void* w, int64_t index) {
  if constexpr (kBf16) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
        static_cast<const uint16_t*>(w) + index));
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
  } else {
    return _mm512_loadu_ps(static_cast<const float*>(w) + index);
  }
}

template <bool kBf16>
EVALD_AVX512 inline __m512 LoadW16Masked(const void* w, int64_t index,
                                         __mmask16 mask) {
  if constexpr (kBf16) {
    const __m256i raw =
        _mm256_maskz_loadu_epi16(mask, static_cast<const uint16_t*>(w) + index);
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
  } else {
    return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(w) + index);
  }
}

// Accumulator handling of one call over a K range: start from zero or from
// the saved lane sums, and finish by reducing into y or by saving the lane
// sums for the next K range. Splitting K this way keeps every lane's chain
// of fused multiply-adds in the same order, so results do not change.
enum TileMode : int {
  kAccZero = 0,
  kAccLoad = 1,
  kOutReduce = 0,
  kOutSave = 2
};

template <int MR, int NR, bool kBf16>
EVALD_AVX512 void Avx512Tile(const float* x, int64_t ldx, const void* w,
                             int64_t ldw, int64_t k_total, float* y,
                             int64_t ldy, float* acc_io, int mode) {
  __m512 acc[MR][NR];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 8
    for (int n = 0; n < NR; ++n) {
      acc[m][n] = (mode & kAccLoad)
                      ? _mm512_loadu_ps(acc_io + (m * NR + n) * kLanes)
                      : _mm512_setzero_ps();
    }
  }
  // Decode streams every weight once. The NR rows of this tile are NR
  // streams that each last one row (4 KB for 2048 BF16 columns: a page), too
  // short for the hardware prefetchers; the next tile's rows follow this
  // one's in memory, so fetch that block linearly, at the pace this tile
  // consumes its own (non-temporal: each line is used once, by this tile's
  // successor). Prefetching changes no arithmetic. Figures: bench/README.md.
  constexpr int kEsize = kBf16 ? 2 : 4;
  constexpr int kStepBytes = NR * kLanes * kEsize;
  const char* next = static_cast<const char*>(w) + NR * ldw * kEsize;
  int64_t k = 0;
  for (; k + kLanes <= k_total; k += kLanes) {
    if constexpr (MR <= 2) {
      if (ldw == k_total) {
        const char* pf = next + (k / kLanes) * kStepBytes;
#pragma GCC unroll 8
        for (int j = 0; j < kStepBytes; j += 64)
          _mm_prefetch(pf + j, _MM_HINT_NTA);
      }
    }
    __m512 xv[MR];
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) xv[m] = _mm512_loadu_ps(x + m * ldx + k);
#pragma GCC unroll 8
    for (int n = 0; n < NR; ++n) {
      const __m512 wv = LoadW16<kBf16>(w, n * ldw + k);
#pragma GCC unroll 8
      for (int m = 0; m < MR; ++m)
        acc[m][n] = _mm512_fmadd_ps(xv[m], wv, acc[m][n]);
    }
  }
  if (k < k_total) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (k_total - k)) - 1u);
    __m512 xv[MR];
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m)
      xv[m] = _mm512_maskz_loadu_ps(mask, x + m * ldx + k);
#pragma GCC unroll 8
    for (int n = 0; n < NR; ++n) {
      const __m512 wv = LoadW16Masked<kBf16>(w, n * ldw + k, mask);
#pragma GCC unroll 8
      for (int m = 0; m < MR; ++m)
        acc[m][n] = _mm512_fmadd_ps(xv[m], wv, acc[m][n]);
    }
  }
  if (mode & kOutSave) {
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 8
      for (int n = 0; n < NR; ++n)
        _mm512_storeu_ps(acc_io + (m * NR + n) * kLanes, acc[m][n]);
    }
    return;
  }
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 8
    for (int n = 0; n < NR; ++n) y[m * ldy + n] = ReduceAvx512(acc[m][n]);
  }
}

using TileFn = void (*)(const float*, int64_t, const void*, int64_t, int64_t,
                        float*, int64_t, float*, int);

template <bool kBf16, int MR, int... NRs>
constexpr auto MakeRow(std::integer_sequence<int, NRs...>) {
  return std::array<TileFn, sizeof...(NRs)>{&Avx512Tile<MR, NRs + 1, kBf16>...};
}

template <bool kBf16, int... MRs>
constexpr auto MakeTable(std::integer_sequence<int, MRs...>) {
  return std::array<std::array<TileFn, kNr>, sizeof...(MRs)>{
      MakeRow<kBf16, MRs + 1>(std::make_integer_sequence<int, kNr>())...};
}

const auto kBf16Tiles = MakeTable<true>(std::make_integer_sequence<int, kMr>());
const auto kF32Tiles = MakeTable<false>(std::make_integer_sequence<int, kMr>());

// Asks for `bytes` from `p` on (the first weight tile of a decode chunk).
inline void PrefetchBlock(const char* p, int64_t bytes) {
  for (int64_t j = 0; j < bytes; j += 64) _mm_prefetch(p + j, _MM_HINT_NTA);
}

// Chunks of output columns a product is cut into for the pool: a few per
// thread, claimed dynamically. (16 per thread at decode measured 2-3% slower
// than 4 in back-to-back pairs: each chunk restarts the weight streams.)
int64_t PiecesWanted(int threads, int64_t m) {
  (void)m;
  return threads == 1 ? 1 : 4 * threads;
}

// ---- AVX512_BF16 kernels (the opt-in BF16-activation path) -----------------

#define EVALD_AVX512BF16 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,fma,avx2")))

bool HasAvx512Bf16() {
  static const bool has = HasAvx512() && __builtin_cpu_supports("avx512bf16");
  return has;
}

// As Avx512Tile, but x is BF16 too and each step takes 32 k with vdpbf16ps:
// lane l accumulates the pairs (k, k + 1) for k = 2 l, 2 l + 32, ... in order.
template <int MR, int NR>
EVALD_AVX512BF16 void Bf16Tile(const uint16_t* x, int64_t ldx,
                               const uint16_t* w, int64_t ldw, int64_t k_total,
                               float* y, int64_t ldy, float* acc_io, int mode) {
  __m512 acc[MR][NR];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 8
    for (int n = 0; n < NR; ++n) {
      acc[m][n] = (mode & kAccLoad)
                      ? _mm512_loadu_ps(acc_io + (m * NR + n) * kLanes)
                      : _mm512_setzero_ps();
    }
  }
  // As Avx512Tile: at decode, fetch the next tile's rows linearly.
  constexpr int kStepBytes = NR * 2 * kLanes * 2;
  const char* next = reinterpret_cast<const char*>(w + NR * ldw);
  int64_t k = 0;
  for (; k < k_total; k += 2 * kLanes) {
    if constexpr (MR <= 2) {
      if (ldw == k_total) {
        const char* pf = next + (k / (2 * kLanes)) * kStepBytes;
#pragma GCC unroll 8
        for (int j = 0; j < kStepBytes; j += 64)
          _mm_prefetch(pf + j, _MM_HINT_NTA);
      }
    }
    const int64_t left = k_total - k;
    const __mmask32 mask =
        left >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << left) - 1u);
    __m512bh xv[MR];
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      xv[m] = reinterpret_cast<__m512bh>(
          _mm512_maskz_loadu_epi16(mask, x + m * ldx + k));
    }
#pragma GCC unroll 8
    for (int n = 0; n < NR; ++n) {
      const __m512bh wv = reinterpret_cast<__m512bh>(
          _mm512_maskz_loadu_epi16(mask, w + n * ldw + k));
#pragma GCC unroll 8
      for (int m = 0; m < MR; ++m)
        acc[m][n] = _mm512_dpbf16_ps(acc[m][n], xv[m], wv);
    }
  }
  if (mode & kOutSave) {
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 8
      for (int n = 0; n < NR; ++n)
        _mm512_storeu_ps(acc_io + (m * NR + n) * kLanes, acc[m][n]);
    }
    return;
  }
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 8
    for (int n = 0; n < NR; ++n) y[m * ldy + n] = ReduceAvx512(acc[m][n]);
  }
}

using Bf16TileFn = void (*)(const uint16_t*, int64_t, const uint16_t*, int64_t,
                            int64_t, float*, int64_t, float*, int);

template <int MR, int... NRs>
constexpr auto MakeBf16Row(std::integer_sequence<int, NRs...>) {
  return std::array<Bf16TileFn, sizeof...(NRs)>{&Bf16Tile<MR, NRs + 1>...};
}

template <int... MRs>
constexpr auto MakeBf16Table(std::integer_sequence<int, MRs...>) {
  return std::array<std::array<Bf16TileFn, kNr>, sizeof...(MRs)>{
      MakeBf16Row<MRs + 1>(std::make_integer_sequence<int, kNr>())...};
}

const auto kBf16x16Tiles =
    MakeBf16Table(std::make_integer_sequence<int, kMr>());

void MatMulColumnsBf16(const uint16_t* x, int64_t m_total,
                       const model::WeightMatrix& w, float* y, int64_t n_begin,
                       int64_t n_end) {
  const int64_t k_total = w.cols;
  const int64_t ldy = w.rows;
  const int64_t k_passes =
      m_total <= 2 * kMr ? 1 : (k_total + 2 * kKc - 1) / (2 * kKc);
  thread_local std::vector<float> carry;
  const int64_t n_tiles = (n_end - n_begin + kNr - 1) / kNr;
  const int64_t m_tiles = (kMc + kMr - 1) / kMr;
  if (k_passes > 1)
    carry.resize(static_cast<size_t>(n_tiles) * m_tiles * kMr * kNr * kLanes);
  const uint16_t* wdata = static_cast<const uint16_t*>(w.data);
  if (m_total <= 2) {
    PrefetchBlock(reinterpret_cast<const char*>(wdata + n_begin * k_total),
                  std::min<int64_t>(kNr, n_end - n_begin) * k_total * 2);
  }
  for (int64_t mc = 0; mc < m_total; mc += kMc) {
    const int64_t mc_end = std::min(m_total, mc + kMc);
    for (int64_t pass = 0; pass < k_passes; ++pass) {
      const int64_t k0 = pass * 2 * kKc;
      const int64_t k_len =
          k_passes == 1 ? k_total : std::min(2 * kKc, k_total - k0);
      const int mode = (pass > 0 ? kAccLoad : kAccZero) |
                       (pass + 1 < k_passes ? kOutSave : kOutReduce);
      for (int64_t n = n_begin, nt = 0; n < n_end; n += kNr, ++nt) {
        const int nr = static_cast<int>(std::min<int64_t>(kNr, n_end - n));
        for (int64_t m = mc, mt = 0; m < mc_end; m += kMr, ++mt) {
          const int mr = static_cast<int>(std::min<int64_t>(kMr, mc_end - m));
          float* slot =
              k_passes > 1
                  ? carry.data() + (static_cast<size_t>(nt) * m_tiles + mt) *
                                       kMr * kNr * kLanes
                  : nullptr;
          kBf16x16Tiles[mr - 1][nr - 1](
              x + m * k_total + k0, k_total, wdata + n * k_total + k0, k_total,
              k_len, y + m * ldy + n, ldy, slot, mode);
        }
      }
    }
  }
}

EVALD_AVX512 float DotAvx512(const float* a, const float* b, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), acc);
  }
  if (k < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - k)) - 1u);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + k),
                          _mm512_maskz_loadu_ps(mask, b + k), acc);
  }
  return ReduceAvx512(acc);
}

}  // namespace

bool UseAvx512Kernels() { return UseAvx512(); }

bool Bf16ActivationsSupported() { return HasAvx512Bf16(); }

void MatMulManyBf16(const float* x, int64_t m,
                    absl::Span<const MatMulTarget> targets, ThreadPool* pool) {
  bool all_bf16 = true;
  for (const MatMulTarget& t : targets) {
    all_bf16 = all_bf16 && t.w->dtype == model::DType::kBF16 &&
               t.w->format == model::WeightFormat::kDense;
  }
  if (!HasAvx512Bf16() || !all_bf16 || force_portable.load() || m <= 0) {
    MatMulMany(x, m, targets, pool);
    return;
  }
  const int64_t k_total = targets[0].w->cols;
  thread_local std::vector<uint16_t> xb;
  xb.resize(static_cast<size_t>(m * k_total));
  for (int64_t i = 0; i < m * k_total; ++i) xb[i] = model::FloatToBf16(x[i]);
  int64_t total_rows = 0;
  for (const MatMulTarget& t : targets) total_rows += t.w->rows;
  const int64_t want = PiecesWanted(pool->size(), m);
  const int64_t piece = std::max<int64_t>(
      kNr, ((total_rows + want - 1) / want + kNr - 1) / kNr * kNr);
  struct Piece {
    const MatMulTarget* target;
    int64_t begin, end;
  };
  std::vector<Piece> pieces;
  for (const MatMulTarget& t : targets) {
    for (int64_t b = 0; b < t.w->rows; b += piece) {
      pieces.push_back(Piece{&t, b, std::min(t.w->rows, b + piece)});
    }
  }
  const uint16_t* xdata = xb.data();
  pool->ParallelFor(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    const Piece& p = pieces[i];
    MatMulColumnsBf16(xdata, m, *p.target->w, p.target->y, p.begin, p.end);
  });
}

const char* GemmIsa() { return UseAvx512() ? "avx512" : "portable"; }

void SetGemmPortableForTesting(bool portable) {
  force_portable.store(portable);
}

float DotCanonical(const float* a, const float* b, int64_t n) {
  if (UseAvx512()) return DotAvx512(a, b, n);
  float lanes[kLanes] = {};
  for (int64_t k = 0; k < n; k += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const bool in = k + l < n;
      lanes[l] = std::fma(in ? a[k + l] : 0.0f, in ? b[k + l] : 0.0f, lanes[l]);
    }
  }
  return ReduceLanes(lanes);
}

void ReadRow(const model::WeightMatrix& w, int64_t row, float* out) {
  if (w.format == model::WeightFormat::kAwqInt4) {
    DequantizeAwqRows(w, row, row + 1, out);
    return;
  }
  if (w.dtype == model::DType::kBF16) {
    const uint16_t* src = static_cast<const uint16_t*>(w.data) + row * w.cols;
    for (int64_t i = 0; i < w.cols; ++i) out[i] = model::Bf16ToFloat(src[i]);
  } else {
    std::memcpy(out, static_cast<const float*>(w.data) + row * w.cols,
                w.cols * sizeof(float));
  }
}

namespace {

// The dense kernels over output columns [n_begin, n_end); `w.data` holds rows
// from `data_row0` on (a dequantised slice), while y keeps stride w.rows.
void DenseColumns(const float* x, int64_t m_total, const model::WeightMatrix& w,
                  float* y, int64_t n_begin, int64_t n_end, int64_t data_row0) {
  const int64_t k_total = w.cols;
  const int64_t ldy = w.rows;
  const bool bf16 = w.dtype == model::DType::kBF16;
  const size_t esize = bf16 ? 2 : 4;
  if (!UseAvx512()) {
    for (int64_t m = 0; m < m_total; m += kMr) {
      const int mr = static_cast<int>(std::min<int64_t>(kMr, m_total - m));
      for (int64_t n = n_begin; n < n_end; n += kNr) {
        const int nr = static_cast<int>(std::min<int64_t>(kNr, n_end - n));
        PortableTile(x + m * k_total, k_total, mr, w, n, nr, y + m * ldy, ldy,
                     data_row0);
      }
    }
    return;
  }
  const auto& tiles = bf16 ? kBf16Tiles : kF32Tiles;
  // Few rows (decode) stream the weights once anyway; splitting K would only
  // break the streams into short strided pieces.
  const int64_t k_passes = m_total <= 2 * kMr ? 1 : (k_total + kKc - 1) / kKc;
  if (m_total <= 2) {
    // Each tile fetches its successor (Avx512Tile); fetch the first one.
    PrefetchBlock(
        static_cast<const char*>(w.data) +
            static_cast<size_t>(n_begin - data_row0) * k_total * esize,
        std::min<int64_t>(kNr, n_end - n_begin) * k_total * esize);
  }
  // Lane sums carried between K passes: one [kMr * kNr * 16] slot per tile.
  thread_local std::vector<float> carry;
  const int64_t n_tiles = (n_end - n_begin + kNr - 1) / kNr;
  if (k_passes > 1) {
    carry.resize(static_cast<size_t>(n_tiles) * ((kMc + kMr - 1) / kMr) * kMr *
                 kNr * kLanes);
  }
  for (int64_t mc = 0; mc < m_total; mc += kMc) {
    const int64_t mc_end = std::min(m_total, mc + kMc);
    for (int64_t pass = 0; pass < k_passes; ++pass) {
      const int64_t k0 = pass * kKc;
      const int64_t k_len =
          k_passes == 1 ? k_total : std::min(kKc, k_total - k0);
      const int mode = (pass > 0 ? kAccLoad : kAccZero) |
                       (pass + 1 < k_passes ? kOutSave : kOutReduce);
      for (int64_t n = n_begin, nt = 0; n < n_end; n += kNr, ++nt) {
        const int nr = static_cast<int>(std::min<int64_t>(kNr, n_end - n));
        const uint8_t* wn =
            static_cast<const uint8_t*>(w.data) +
            (static_cast<size_t>(n - data_row0) * k_total + k0) * esize;
        for (int64_t m = mc, mt = 0; m < mc_end; m += kMr, ++mt) {
          const int mr = static_cast<int>(std::min<int64_t>(kMr, mc_end - m));
          float* slot = k_passes > 1
                            ? carry.data() + (static_cast<size_t>(nt) *
                                                  ((kMc + kMr - 1) / kMr) +
                                              mt) *
                                                 kMr * kNr * kLanes
                            : nullptr;
          tiles[mr - 1][nr - 1](x + m * k_total + k0, k_total, wn, k_total,
                                k_len, y + m * ldy + n, ldy, slot, mode);
        }
      }
    }
  }
}

// Output rows dequantised per step of the AWQ path: a multiple of kNr so the
// dense tiles line up, small enough that the FP32 slice stays in L2.
constexpr int64_t kAwqRowsPerSlice = 24;

void AwqColumns(const float* x, int64_t m_total, const model::WeightMatrix& w,
                float* y, int64_t n_begin, int64_t n_end) {
  thread_local std::vector<float> slice;
  for (int64_t n0 = n_begin; n0 < n_end; n0 += kAwqRowsPerSlice) {
    const int64_t n1 = std::min(n_end, n0 + kAwqRowsPerSlice);
    slice.resize(static_cast<size_t>((n1 - n0) * w.cols));
    DequantizeAwqRows(w, n0, n1, slice.data());
    model::WeightMatrix dense;
    dense.dtype = model::DType::kF32;
    dense.data = slice.data();
    dense.rows = w.rows;
    dense.cols = w.cols;
    // The same dense kernel and K order as an FP32 matrix, so the AWQ result
    // equals a dense FP32 product with the dequantised weights, bit for bit.
    DenseColumns(x, m_total, dense, y, n0, n1, n0);
  }
}

}  // namespace

void DequantizeAwqRows(const model::WeightMatrix& w, int64_t n_begin,
                       int64_t n_end, float* out) {
  // Physical nibble of logical column j within its word (inverse of the AWQ
  // packing order {0, 2, 4, 6, 1, 3, 5, 7}).
  static constexpr int kNibbleOf[8] = {0, 4, 1, 5, 2, 6, 3, 7};
  const int64_t words = w.rows / 8;
  const int64_t cols = w.cols;
  for (int64_t k = 0; k < cols; ++k) {
    const int64_t g = k / w.group_size;
    const int32_t* qrow = w.qweight + k * words;
    const int32_t* zrow = w.qzeros + g * words;
    const uint16_t* srow = w.scales + g * w.rows;
    for (int64_t n = n_begin; n < n_end; ++n) {
      const int shift = 4 * kNibbleOf[n & 7];
      const int q = static_cast<int>(
          (static_cast<uint32_t>(qrow[n >> 3]) >> shift) & 15u);
      const int z = static_cast<int>(
          (static_cast<uint32_t>(zrow[n >> 3]) >> shift) & 15u);
      out[(n - n_begin) * cols + k] =
          static_cast<float>(q - z) * model::F16ToFloat(srow[n]);
    }
  }
}

void MatMulColumns(const float* x, int64_t m_total,
                   const model::WeightMatrix& w, float* y, int64_t n_begin,
                   int64_t n_end) {
  if (w.format == model::WeightFormat::kAwqInt4) {
    AwqColumns(x, m_total, w, y, n_begin, n_end);
  } else {
    DenseColumns(x, m_total, w, y, n_begin, n_end, 0);
  }
}

void MatMulMany(const float* x, int64_t m,
                absl::Span<const MatMulTarget> targets, ThreadPool* pool) {
  if (m <= 0) return;
  int64_t total_rows = 0;
  for (const MatMulTarget& t : targets) total_rows += t.w->rows;
  // A few chunks per thread, each a whole number of kNr-column tiles.
  const int64_t want = PiecesWanted(pool->size(), m);
  const int64_t piece = std::max<int64_t>(
      kNr, ((total_rows + want - 1) / want + kNr - 1) / kNr * kNr);
  struct Piece {
    const MatMulTarget* target;
    int64_t begin, end;
  };
  std::vector<Piece> pieces;
  for (const MatMulTarget& t : targets) {
    for (int64_t b = 0; b < t.w->rows; b += piece) {
      pieces.push_back(Piece{&t, b, std::min(t.w->rows, b + piece)});
    }
  }
  pool->ParallelFor(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    const Piece& p = pieces[i];
    MatMulColumns(x, m, *p.target->w, p.target->y, p.begin, p.end);
  });
}

void MatMulGrouped(absl::Span<const MatMulGroup> groups, ThreadPool* pool) {
  int64_t total_rows = 0, max_m = 0;
  for (const MatMulGroup& g : groups) {
    total_rows += g.m > 0 ? g.w->rows : 0;
    max_m = std::max(max_m, g.m);
  }
  if (total_rows == 0) return;
  const int64_t want = PiecesWanted(pool->size(), max_m);
  const int64_t piece = std::max<int64_t>(
      kNr, ((total_rows + want - 1) / want + kNr - 1) / kNr * kNr);
  struct Piece {
    const MatMulGroup* group;
    int64_t begin, end;
  };
  std::vector<Piece> pieces;
  for (const MatMulGroup& g : groups) {
    if (g.m <= 0) continue;
    for (int64_t b = 0; b < g.w->rows; b += piece) {
      pieces.push_back(Piece{&g, b, std::min(g.w->rows, b + piece)});
    }
  }
  pool->ParallelFor(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    const Piece& p = pieces[i];
    MatMulColumns(p.group->x, p.group->m, *p.group->w, p.group->y, p.begin,
                  p.end);
  });
}

void MatMul(const float* x, int64_t m, const model::WeightMatrix& w, float* y,
            ThreadPool* pool) {
  const MatMulTarget target{&w, y};
  MatMulMany(x, m, absl::MakeConstSpan(&target, 1), pool);
}

}  // namespace evald::runners::native::cpu
