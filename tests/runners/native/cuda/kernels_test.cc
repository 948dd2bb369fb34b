// Each CUDA op of the backend against the CPU op it stands in for (the
// numerical reference), and each op's batch invariance: a row computed alone
// equals the same row computed among others, bit for bit. Skips, saying why,
// where there is no GPU.
#include "runners/native/cuda/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "runners/native/cpu/cpu_ops.h"
#include "runners/native/cpu/thread_pool.h"
#include "runners/native/cuda/gemm.h"
#include "runners/native/model/dtype.h"
#include "runners/native/model/model.h"
#include "runners/native/model/rope.h"

namespace evald::runners::native::cuda {

using cpu::ApplyRope;
using cpu::Attention;
using cpu::AttentionRow;
using cpu::AttentionShape;
using cpu::RmsNorm;
using cpu::RopeCosSin;
using cpu::SiluMul;
using cpu::ThreadPool;
using model::Bf16ToFloat;
using model::F16ToFloat;
using model::FloatToBf16;
using model::FloatToF16;
using model::kKvBlockSize;
using model::ModelConfig;
using model::RopeInverseFrequencies;
namespace {

#define SKIP_WITHOUT_GPU()                                         \
  do {                                                             \
    int n = 0;                                                     \
    const cudaError_t e = cudaGetDeviceCount(&n);                  \
    if (e != cudaSuccess || n == 0) {                              \
      GTEST_SKIP() << "no CUDA device: " << cudaGetErrorString(e); \
    }                                                              \
  } while (0)

// A device copy of a host vector, freed with the owner.
template <typename T>
class Dev {
 public:
  explicit Dev(const std::vector<T>& host) : n_(host.size()) {
    EXPECT_EQ(cudaMalloc(&ptr_, std::max<size_t>(1, n_) * sizeof(T)),
              cudaSuccess);
    if (n_ > 0)
      cudaMemcpy(ptr_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice);
  }
  explicit Dev(size_t n) : Dev(std::vector<T>(n)) {}
  ~Dev() { cudaFree(ptr_); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  T* get() const { return ptr_; }
  std::vector<T> Host() const {
    std::vector<T> out(n_);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    cudaMemcpy(out.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost);
    return out;
  }

 private:
  T* ptr_ = nullptr;
  size_t n_;
};

float Rand(uint64_t i, uint64_t salt) {
  uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ull ^ (salt * 0xbf58476d1ce4e5b9ull);
  z = (z ^ (z >> 31)) * 0x94d049bb133111ebull;
  z ^= z >> 29;
  return static_cast<float>(z >> 40) / 16777216.0f * 2.0f - 1.0f;
}

std::vector<float> Randoms(size_t n, uint64_t salt, float scale = 1.0f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * Rand(i, salt);
  return v;
}

// Within the rounding of an FP16 result.
void ExpectNearF16(const std::vector<uint16_t>& got,
                   const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(F16ToFloat(got[i]), want[i], 1.5e-3 * std::abs(want[i]) + 1e-5)
        << what << " element " << i;
  }
}

TEST(CudaKernelsTest, EmbedGatherReadsBf16AndF16TablesExactly) {
  SKIP_WITHOUT_GPU();
  const int vocab = 50, hidden = 96;
  const std::vector<float> table = Randoms(vocab * hidden, 1);
  std::vector<uint16_t> bf(table.size()), hf(table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    bf[i] = FloatToBf16(table[i]);
    hf[i] = FloatToF16(table[i]);
  }
  const std::vector<RowInfo> rows = {{7, 0, 0, 0}, {49, 1, 0, 1}, {0, 2, 0, 2}};
  Dev<RowInfo> d_rows(rows);
  for (bool f16 : {false, true}) {
    Dev<uint16_t> d_table(f16 ? hf : bf);
    Dev<float> h(rows.size() * hidden);
    EmbedGather(d_table.get(), f16, d_rows.get(), 3, hidden, h.get(), nullptr);
    const std::vector<float> got = h.Host();
    for (size_t r = 0; r < rows.size(); ++r) {
      for (int i = 0; i < hidden; ++i) {
        const uint16_t bits = (f16 ? hf : bf)[rows[r].token * hidden + i];
        ASSERT_EQ(got[r * hidden + i],
                  f16 ? F16ToFloat(bits) : Bf16ToFloat(bits))
            << r << " " << i;
      }
    }
  }
}

TEST(CudaKernelsTest, RmsNormMatchesCpuAndGathersRows) {
  SKIP_WITHOUT_GPU();
  const int rows = 9, n = 1000;
  const float eps = 1e-5f;
  const std::vector<float> x = Randoms(rows * n, 2, 3.0f);
  const std::vector<float> w = Randoms(n, 3);
  std::vector<float> want(rows * n);
  for (int r = 0; r < rows; ++r)
    RmsNorm(&x[r * n], w.data(), n, eps, &want[r * n]);
  Dev<float> dx(x), dw(w);
  Dev<uint16_t> out(rows * n);
  RmsNormToF16(dx.get(), nullptr, dw.get(), rows, n, eps, out.get(), nullptr);
  const std::vector<uint16_t> all = out.Host();
  ExpectNearF16(all, want, "rmsnorm");
  // Rows 5 and 2 through the gather equal their rows of the full launch.
  Dev<int32_t> gather(std::vector<int32_t>{5, 2});
  Dev<uint16_t> picked(2 * n);
  RmsNormToF16(dx.get(), gather.get(), dw.get(), 2, n, eps, picked.get(),
               nullptr);
  const std::vector<uint16_t> p = picked.Host();
  EXPECT_EQ(0, std::memcmp(p.data(), &all[5 * n], n * 2));
  EXPECT_EQ(0, std::memcmp(p.data() + n, &all[2 * n], n * 2));
}

TEST(CudaKernelsTest, SiluMulMatchesCpu) {
  SKIP_WITHOUT_GPU();
  const int rows = 5, inter = 300;
  const std::vector<float> gu = Randoms(rows * 2 * inter, 4, 6.0f);
  std::vector<float> want;
  for (int r = 0; r < rows; ++r) {
    std::vector<float> gate(gu.begin() + r * 2 * inter,
                            gu.begin() + r * 2 * inter + inter);
    SiluMul(gate.data(), &gu[r * 2 * inter + inter], inter);
    want.insert(want.end(), gate.begin(), gate.end());
  }
  Dev<float> d(gu);
  Dev<uint16_t> out(rows * inter);
  SiluMulToF16(d.get(), rows, inter, out.get(), nullptr);
  ExpectNearF16(out.Host(), want, "silu*mul");
}

// Bias, per-head q/k RMSNorm (Qwen3), rotary embeddings with llama3
// frequencies, and the K/V written to each row's slot.
// Heads, kv heads and head_dim: a small shape, and Llama-3.1-405B's, whose
// q/k/v need 72 KiB of shared memory (above the 48 KiB default).
struct QkvCase {
  int heads, kv_heads, hd;
};
class QkvPostTest : public ::testing::TestWithParam<QkvCase> {};

TEST_P(QkvPostTest, MatchesCpuBiasNormRopeAndCacheWrite) {
  SKIP_WITHOUT_GPU();
  const int heads = GetParam().heads, kv_heads = GetParam().kv_heads;
  ModelConfig config;
  config.num_heads = heads;
  config.num_kv_heads = kv_heads;
  config.head_dim = GetParam().hd;
  config.rope_theta = 500000.0;
  config.rope_scaling.type = "llama3";
  config.rope_scaling.factor = 8.0;
  config.rope_scaling.low_freq_factor = 1.0;
  config.rope_scaling.high_freq_factor = 4.0;
  config.rope_scaling.original_max_position_embeddings = 8192;
  const int hd = GetParam().hd, q_dim = heads * hd, kv_dim = kv_heads * hd,
            width = q_dim + 2 * kv_dim;
  const float eps = 1e-6f;
  const std::vector<double> inv_freq = RopeInverseFrequencies(config);
  const std::vector<RowInfo> rows = {
      {1, 0, 0, 16 * 3 + 0}, {2, 17, 0, 16 * 5 + 1}, {3, 4000, 0, 16 * 9 + 0}};
  const int t = static_cast<int>(rows.size());
  const std::vector<float> qkv = Randoms(t * width, 5, 2.0f);
  const std::vector<float> qb = Randoms(q_dim, 6, 0.1f),
                           kb = Randoms(kv_dim, 7, 0.1f),
                           vb = Randoms(kv_dim, 8, 0.1f);
  std::vector<float> qn = Randoms(hd, 9, 0.2f), kn = Randoms(hd, 10, 0.2f);
  for (float& v : qn) v += 1.0f;
  for (float& v : kn) v += 1.0f;
  for (bool with_norm : {false, true}) {
    std::vector<float> want_q(t * q_dim), want_k(t * kv_dim),
        want_v(t * kv_dim);
    for (int r = 0; r < t; ++r) {
      std::vector<float> v(qkv.begin() + r * width,
                           qkv.begin() + (r + 1) * width);
      for (int i = 0; i < q_dim; ++i) v[i] += qb[i];
      for (int i = 0; i < kv_dim; ++i) v[q_dim + i] += kb[i];
      for (int i = 0; i < kv_dim; ++i) v[q_dim + kv_dim + i] += vb[i];
      if (with_norm) {
        for (int h = 0; h < heads; ++h)
          RmsNorm(&v[h * hd], qn.data(), hd, eps, &v[h * hd]);
        for (int h = 0; h < kv_heads; ++h) {
          RmsNorm(&v[q_dim + h * hd], kn.data(), hd, eps, &v[q_dim + h * hd]);
        }
      }
      std::vector<float> cos(hd / 2), sin(hd / 2);
      RopeCosSin(inv_freq, rows[r].position, cos.data(), sin.data());
      ApplyRope(v.data(), heads, hd, cos.data(), sin.data());
      ApplyRope(v.data() + q_dim, kv_heads, hd, cos.data(), sin.data());
      std::copy(v.begin(), v.begin() + q_dim, want_q.begin() + r * q_dim);
      std::copy(v.begin() + q_dim, v.begin() + q_dim + kv_dim,
                want_k.begin() + r * kv_dim);
      std::copy(v.begin() + q_dim + kv_dim, v.end(),
                want_v.begin() + r * kv_dim);
    }
    Dev<float> d_qkv(qkv), d_qb(qb), d_kb(kb), d_vb(vb), d_qn(qn), d_kn(kn);
    Dev<double> d_freq(inv_freq);
    Dev<RowInfo> d_rows(rows);
    Dev<float> q(t * q_dim);
    const int slots = 16 * 10;
    Dev<uint16_t> kc(slots * kv_dim), vc(slots * kv_dim);
    ASSERT_EQ(QkvPost(d_qkv.get(), d_rows.get(), t,
                      QkvShape{heads, kv_heads, hd, eps}, d_qb.get(),
                      d_kb.get(), d_vb.get(), with_norm ? d_qn.get() : nullptr,
                      with_norm ? d_kn.get() : nullptr, d_freq.get(), q.get(),
                      kc.get(), vc.get(), nullptr),
              cudaSuccess);
    const std::vector<float> got_q = q.Host();
    for (size_t i = 0; i < want_q.size(); ++i) {
      ASSERT_NEAR(got_q[i], want_q[i], 2e-5 * std::abs(want_q[i]) + 2e-5)
          << (with_norm ? "normed " : "") << "q " << i;
    }
    const std::vector<uint16_t> k_all = kc.Host(), v_all = vc.Host();
    for (int r = 0; r < t; ++r) {
      std::vector<uint16_t> k_row(k_all.begin() + rows[r].slot * kv_dim,
                                  k_all.begin() + (rows[r].slot + 1) * kv_dim);
      std::vector<uint16_t> v_row(v_all.begin() + rows[r].slot * kv_dim,
                                  v_all.begin() + (rows[r].slot + 1) * kv_dim);
      ExpectNearF16(k_row,
                    std::vector<float>(want_k.begin() + r * kv_dim,
                                       want_k.begin() + (r + 1) * kv_dim),
                    "k");
      ExpectNearF16(v_row,
                    std::vector<float>(want_v.begin() + r * kv_dim,
                                       want_v.begin() + (r + 1) * kv_dim),
                    "v");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, QkvPostTest,
                         ::testing::Values(QkvCase{8, 2, 64},
                                           QkvCase{128, 8, 128}));

// Causal GQA attention over a paged FP16 cache with scattered block
// tables, against the CPU attention on the same (FP16-valued) keys.
TEST(CudaKernelsTest, PagedAttentionMatchesCpuAndIgnoresTheBatch) {
  SKIP_WITHOUT_GPU();
  const int heads = 8, kv_heads = 2, hd = 128, kv_dim = kv_heads * hd,
            blocks = 40;
  const std::vector<float> kf =
      Randoms(blocks * kKvBlockSize * kv_dim, 11, 2.0f);
  const std::vector<float> vf = Randoms(blocks * kKvBlockSize * kv_dim, 12);
  std::vector<uint16_t> kh(kf.size()), vh(vf.size());
  std::vector<float> k_ref(kf.size()), v_ref(vf.size());
  for (size_t i = 0; i < kf.size(); ++i) {
    kh[i] = FloatToF16(kf[i]);
    vh[i] = FloatToF16(vf[i]);
    k_ref[i] = F16ToFloat(kh[i]);
    v_ref[i] = F16ToFloat(vh[i]);
  }
  // Two sequences: positions 0..99 (scattered blocks) and a decode row at 200.
  const std::vector<int32_t> table_a = {39, 3, 17, 8, 25, 1, 30};
  std::vector<int32_t> table_b;
  for (int b = 0; b < 13; ++b) table_b.push_back((b * 3 + 2) % blocks);
  std::vector<int32_t> tables = table_a;
  tables.insert(tables.end(), table_b.begin(), table_b.end());
  std::vector<RowInfo> rows;
  std::vector<AttentionRow> cpu_rows;
  for (int p : {0, 1, 15, 16, 33, 99}) {
    rows.push_back({0, p, 0, 0});
    cpu_rows.push_back({p, table_a.data()});
  }
  rows.push_back({0, 200, static_cast<int32_t>(table_a.size()), 0});
  cpu_rows.push_back({200, table_b.data()});
  const int t = static_cast<int>(rows.size());
  const std::vector<float> q = Randoms(t * heads * hd, 13);
  std::vector<float> want(t * heads * hd);
  ThreadPool pool(2);
  Attention(q.data(), cpu_rows, k_ref.data(), v_ref.data(),
            AttentionShape{heads, kv_heads, hd}, want.data(), &pool);
  Dev<float> dq(q);
  Dev<RowInfo> d_rows(rows);
  Dev<int32_t> d_tables(tables);
  Dev<uint16_t> dk(kh), dv(vh), out(t * heads * hd);
  PagedAttention(dq.get(), d_rows.get(), d_tables.get(), t,
                 QkvShape{heads, kv_heads, hd, 1e-5f}, dk.get(), dv.get(),
                 out.get(), nullptr);
  const std::vector<uint16_t> all = out.Host();
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(F16ToFloat(all[i]), want[i], 2e-3 * std::abs(want[i]) + 2e-4)
        << "element " << i;
  }
  // The tiled kernel (rows of a sequence sharing each K/V load) gives the
  // same bits, with tiles of any size up to kAttentionTileRows.
  if (TiledAttentionFits(hd, 0)) {
    for (int tile : {1, 4, 6}) {
      std::vector<RowTile> tiles;
      for (int first = 0; first < 6; first += tile)
        tiles.push_back({first, std::min(tile, 6 - first)});
      tiles.push_back({6, 1});
      Dev<RowTile> d_tiles(tiles);
      Dev<uint16_t> tiled(t * heads * hd);
      ASSERT_EQ(
          PagedAttentionTiled(dq.get(), d_rows.get(), d_tiles.get(),
                              static_cast<int>(tiles.size()), d_tables.get(),
                              QkvShape{heads, kv_heads, hd, 1e-5f}, dk.get(),
                              dv.get(), tiled.get(), nullptr),
          cudaSuccess);
      const std::vector<uint16_t> got = tiled.Host();
      EXPECT_EQ(0, std::memcmp(got.data(), all.data(), all.size() * 2))
          << "tiles of " << tile;
    }
  } else {
    std::printf("tiled attention does not fit this GPU at head_dim %d\n", hd);
  }
  // The decode row alone gives the same bits as among the prefill rows.
  Dev<RowInfo> alone_row(std::vector<RowInfo>{rows.back()});
  Dev<float> alone_q(std::vector<float>(q.end() - heads * hd, q.end()));
  Dev<uint16_t> alone(heads * hd);
  PagedAttention(alone_q.get(), alone_row.get(), d_tables.get(), 1,
                 QkvShape{heads, kv_heads, hd, 1e-5f}, dk.get(), dv.get(),
                 alone.get(), nullptr);
  const std::vector<uint16_t> a = alone.Host();
  EXPECT_EQ(0,
            std::memcmp(a.data(), &all[(t - 1) * heads * hd], heads * hd * 2));
}

// y = x W^T with FP16 inputs and FP32 accumulation against a double
// reference; the pinned algorithm gives every row the same bits at any m.
TEST(CudaKernelsTest, GemmMatchesReferenceAccumulatesAndIsBatchInvariant) {
  SKIP_WITHOUT_GPU();
  const int64_t n = 384, k = 1024, m = 37;
  std::vector<uint16_t> wh(n * k), xh(m * k);
  for (size_t i = 0; i < wh.size(); ++i)
    wh[i] = FloatToF16(0.05f * Rand(i, 14));
  for (size_t i = 0; i < xh.size(); ++i) xh[i] = FloatToF16(Rand(i, 15));
  std::vector<double> want(m * n);
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t c = 0; c < n; ++c) {
      double acc = 0;
      for (int64_t j = 0; j < k; ++j)
        acc += double(F16ToFloat(xh[r * k + j])) * F16ToFloat(wh[c * k + j]);
      want[r * n + c] = acc;
    }
  }
  auto gemm = Gemm::Create(/*batch_invariant=*/true);
  ASSERT_TRUE(gemm.ok()) << gemm.status();
  Dev<uint16_t> dw(wh), dx(xh);
  Dev<float> y(m * n);
  ASSERT_TRUE(
      (*gemm)->Run(dw.get(), n, k, dx.get(), m, y.get(), false, nullptr).ok());
  const std::vector<float> full = y.Host();
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(full[i], want[i], 1e-5 * std::sqrt(double(k)) + 1e-5)
        << "element " << i;
  }
  for (int64_t rows : {1, 2, 8, 13}) {
    Dev<float> part(rows * n);
    ASSERT_TRUE(
        (*gemm)
            ->Run(dw.get(), n, k, dx.get(), rows, part.get(), false, nullptr)
            .ok());
    const std::vector<float> p = part.Host();
    EXPECT_EQ(0, std::memcmp(p.data(), full.data(), p.size() * 4))
        << "m=" << rows;
  }
  // accumulate: y += x W^T on top of what y holds.
  ASSERT_TRUE(
      (*gemm)->Run(dw.get(), n, k, dx.get(), m, y.get(), true, nullptr).ok());
  const std::vector<float> twice = y.Host();
  for (size_t i = 0; i < twice.size(); ++i) {
    ASSERT_NEAR(twice[i], 2.0 * full[i], 1e-6 * std::abs(full[i]) + 1e-6) << i;
  }
}

}  // namespace
}  // namespace evald::runners::native::cuda
