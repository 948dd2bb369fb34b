// Statistics against values computed independently: exact binomial sums with
// Python's fractions.Fraction and math.comb (shown in the comments), and
// hand-worked Holm and interval examples.
#include "report/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace evald::report {
namespace {

TEST(StatsTest, McNemarExactMatchesBinomialSums) {
  // 2 * sum_{i<=3} C(13, i) / 2^13 = 2 * 378 / 8192.
  EXPECT_NEAR(McNemarExactP(3, 10), 0.09228515625, 1e-12);
  EXPECT_NEAR(McNemarExactP(10, 3), 0.09228515625, 1e-12);
  // min(1, 2 * Fraction(sum(comb(110, i) for i in range(41)), 2**110)).
  EXPECT_NEAR(McNemarExactP(40, 70), 0.005447429511444482, 1e-12);
  EXPECT_NEAR(McNemarExactP(500, 560), 0.06990955946026933, 1e-10);
  EXPECT_EQ(McNemarExactP(5, 5), 1.0);
  EXPECT_EQ(McNemarExactP(0, 0), 1.0);
  EXPECT_NEAR(McNemarExactP(0, 7), 2.0 / 128, 1e-15);
}

TEST(StatsTest, HolmStepDown) {
  // Sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(0.06, 0.04).
  const std::vector<double> adjusted = HolmAdjust({0.01, 0.04, 0.03, 0.005});
  ASSERT_EQ(adjusted.size(), 4u);
  EXPECT_NEAR(adjusted[0], 0.03, 1e-15);
  EXPECT_NEAR(adjusted[1], 0.06, 1e-15);
  EXPECT_NEAR(adjusted[2], 0.06, 1e-15);
  EXPECT_NEAR(adjusted[3], 0.02, 1e-15);
  EXPECT_EQ(HolmAdjust({0.9, 0.8})[0], 1.0);  // capped
}

TEST(StatsTest, PairedIntervalsAndBootstrap) {
  // d = [1, 0, 0, -1, 1]: mean 0.2, sample sd sqrt(0.7), se sqrt(0.7 / 5).
  const std::vector<double> d = {1, 0, 0, -1, 1};
  const Interval wald = PairedMeanInterval(d);
  const double se = std::sqrt(0.7 / 5);
  EXPECT_NEAR(wald.low, 0.2 - 1.959963984540054 * se, 1e-12);
  EXPECT_NEAR(wald.high, 0.2 + 1.959963984540054 * se, 1e-12);

  // Identical runs: every resampled mean is 0, p = 1, interval [0, 0].
  const BootstrapResult same = PairedBootstrap(std::vector<double>(50, 0.0));
  EXPECT_EQ(same.p_value, 1.0);
  EXPECT_EQ(same.interval.low, 0.0);
  EXPECT_EQ(same.interval.high, 0.0);
  // A clear shift: all 200 differences positive -> no resample <= 0.
  std::vector<double> shifted;
  for (int i = 0; i < 200; ++i) shifted.push_back(0.1 + 0.01 * (i % 7));
  const BootstrapResult clear = PairedBootstrap(shifted);
  EXPECT_EQ(clear.p_value, 0.0);
  EXPECT_GT(clear.interval.low, 0.1);
  // Seeded: the same input and seed give the same answer; noise around 0 is
  // not significant.
  std::vector<double> noise;
  for (int i = 0; i < 300; ++i) noise.push_back((i * 37 % 11) - 5.0);
  const BootstrapResult n1 = PairedBootstrap(noise, 2000, 7);
  const BootstrapResult n2 = PairedBootstrap(noise, 2000, 7);
  EXPECT_EQ(n1.p_value, n2.p_value);
  EXPECT_GT(n1.p_value, 0.05);
  EXPECT_LT(n1.interval.low, 0.0);
  EXPECT_GT(n1.interval.high, 0.0);
}

TEST(StatsTest, WilsonInterval) {
  // k = 8, n = 10, z = 1.959963984540054 (computed with the closed form).
  const Interval w = WilsonInterval(8, 10);
  EXPECT_NEAR(w.low, 0.49016247153664183, 1e-12);
  EXPECT_NEAR(w.high, 0.9433178485456247, 1e-12);
}

}  // namespace
}  // namespace evald::report
