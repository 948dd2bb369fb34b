// The GEMM's canonical-order contract (cpu_gemm.h): every output element is
// bit-identical whatever the number of rows, the rows it shares a call with,
// the thread count, the K blocking and the instruction set; and close to a
// float64 reference.
#include "runners/native/cpu/cpu_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

namespace evald::runners::native::cpu {

using model::Bf16ToFloat;
using model::DType;
using model::FloatToBf16;
using model::WeightMatrix;
namespace {

struct Problem {
  int64_t m, n, k;
  DType dtype;
};

class GemmTest : public ::testing::TestWithParam<Problem> {};

float Value(uint64_t i, uint64_t salt) {
  uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ull ^ salt;
  z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ull;
  z ^= z >> 29;
  return static_cast<float>(z >> 40) / 16777216.0f - 0.5f;
}

TEST_P(GemmTest, RowsAreIndependentOfBatchThreadsAndIsa) {
  const Problem p = GetParam();
  std::vector<float> x(p.m * p.k);
  for (size_t i = 0; i < x.size(); ++i) x[i] = Value(i, 1);
  std::vector<float> wf(p.n * p.k);
  std::vector<uint16_t> wb(p.n * p.k);
  for (size_t i = 0; i < wf.size(); ++i) {
    wb[i] = FloatToBf16(Value(i, 2));
    wf[i] = Bf16ToFloat(wb[i]);
  }
  const WeightMatrix w{p.dtype,
                       p.dtype == DType::kBF16
                           ? static_cast<const void*>(wb.data())
                           : static_cast<const void*>(wf.data()),
                       p.n, p.k};
  ThreadPool one(1), three(3);
  std::vector<float> full(p.m * p.n), threaded(p.m * p.n), portable(p.m * p.n);
  MatMul(x.data(), p.m, w, full.data(), &one);
  MatMul(x.data(), p.m, w, threaded.data(), &three);
  SetGemmPortableForTesting(true);
  MatMul(x.data(), p.m, w, portable.data(), &one);
  SetGemmPortableForTesting(false);
  EXPECT_EQ(std::memcmp(full.data(), threaded.data(), full.size() * 4), 0);
  EXPECT_EQ(std::memcmp(full.data(), portable.data(), full.size() * 4), 0);
  // Each row alone.
  std::vector<float> row(p.n);
  for (int64_t r = 0; r < p.m; ++r) {
    MatMul(&x[r * p.k], 1, w, row.data(), &three);
    EXPECT_EQ(std::memcmp(row.data(), &full[r * p.n], p.n * 4), 0)
        << "row " << r;
  }
  // Against float64.
  double max_rel = 0;
  for (int64_t r = 0; r < p.m; ++r) {
    for (int64_t c = 0; c < p.n; ++c) {
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < p.k; ++i) {
        ref += static_cast<double>(x[r * p.k + i]) * wf[c * p.k + i];
        mag += std::fabs(static_cast<double>(x[r * p.k + i]) * wf[c * p.k + i]);
      }
      max_rel = std::max(max_rel, std::fabs(full[r * p.n + c] - ref) / mag);
    }
  }
  EXPECT_LT(max_rel, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmTest,
                         ::testing::Values(Problem{1, 7, 5, DType::kF32},
                                           Problem{5, 13, 33, DType::kBF16},
                                           Problem{67, 20, 64, DType::kBF16},
                                           Problem{9, 14, 4100,
                                                   DType::kBF16},  // 3 K passes
                                           Problem{70, 12, 2061, DType::kF32}));

TEST(DotCanonicalTest, MatchesPortableOrder) {
  std::vector<float> a(37), b(37);
  for (int i = 0; i < 37; ++i) {
    a[i] = Value(i, 3);
    b[i] = Value(i, 4);
  }
  const float fast = DotCanonical(a.data(), b.data(), 37);
  SetGemmPortableForTesting(true);
  const float slow = DotCanonical(a.data(), b.data(), 37);
  SetGemmPortableForTesting(false);
  EXPECT_EQ(std::memcmp(&fast, &slow, 4), 0);
}

}  // namespace
}  // namespace evald::runners::native::cpu

namespace evald::runners::native::cpu {
namespace {

// The opt-in BF16-activation GEMM keeps the same invariances (rows alone vs
// together, threads, K passes) and equals a float64 product of the
// BF16-rounded inputs to FP32 accuracy.
TEST(GemmBf16Test, RowsAreIndependentAndExactOnRoundedInputs) {
  if (!Bf16ActivationsSupported()) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  const int64_t m = 11, n = 14, k = 8200;  // 3 K passes, a 8-element tail
  std::vector<float> x(m * k);
  std::vector<uint16_t> wb(n * k);
  for (size_t i = 0; i < x.size(); ++i) x[i] = Value(i, 5);
  for (size_t i = 0; i < wb.size(); ++i) wb[i] = FloatToBf16(Value(i, 6));
  const WeightMatrix w{DType::kBF16, wb.data(), n, k};
  const MatMulTarget target{&w, nullptr};
  ThreadPool one(1), three(3);
  std::vector<float> full(m * n), threaded(m * n), row(n);
  MatMulTarget t = target;
  t.y = full.data();
  MatMulManyBf16(x.data(), m, {t}, &one);
  t.y = threaded.data();
  MatMulManyBf16(x.data(), m, {t}, &three);
  EXPECT_EQ(std::memcmp(full.data(), threaded.data(), full.size() * 4), 0);
  for (int64_t r = 0; r < m; ++r) {
    t.y = row.data();
    MatMulManyBf16(&x[r * k], 1, {t}, &three);
    EXPECT_EQ(std::memcmp(row.data(), &full[r * n], n * 4), 0) << "row " << r;
  }
  double max_rel = 0;
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t c = 0; c < n; ++c) {
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < k; ++i) {
        const double p =
            static_cast<double>(Bf16ToFloat(FloatToBf16(x[r * k + i]))) *
            Bf16ToFloat(wb[c * k + i]);
        ref += p;
        mag += std::fabs(p);
      }
      max_rel = std::max(max_rel, std::fabs(full[r * n + c] - ref) / mag);
    }
  }
  EXPECT_LT(max_rel, 1e-5);
}

}  // namespace
}  // namespace evald::runners::native::cpu
