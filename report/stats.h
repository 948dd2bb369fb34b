// File: report/stats.h
// -----------------------------------------------------------------------------
// The statistics behind `evalctl compare` and `evalctl gate`: paired tests on
// the documents two runs share, confidence intervals of the difference, and
// Holm's step-down correction across the metrics compared.
//
// Thread-safety: stateless functions.
#ifndef EVALD_REPORT_STATS_H_
#define EVALD_REPORT_STATS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace evald::report {

// McNemar's exact test: two-sided p-value of `b` documents right in A only
// against `c` right in B only, i.e. 2 * P(X <= min(b, c)) for X ~ Bin(b + c,
// 1/2), capped at 1; 1 when b + c = 0. Exact for any counts (log-space sums).
double McNemarExactP(int64_t b, int64_t c);

struct Interval {
  double low = 0;
  double high = 0;
};

// The mean of paired differences d[i] = y[i] - x[i] with a normal (Wald)
// 95% interval: mean +- 1.96 * sd(d) / sqrt(n), sd with n - 1. n < 2 gives
// the point as both ends.
Interval PairedMeanInterval(absl::Span<const double> differences);

struct BootstrapResult {
  double p_value = 1;
  Interval interval;  // percentile 2.5% / 97.5% of the resampled means
};

// Paired bootstrap of the mean difference: `resamples` resamples of the
// documents with replacement, drawn from a 64-bit generator (splitmix64)
// seeded with `seed`, so the result is reproducible. Two-sided p-value =
// 2 * min(share of resampled means <= 0, share >= 0), capped at 1.
BootstrapResult PairedBootstrap(absl::Span<const double> differences,
                                int resamples = 10000, uint64_t seed = 1234);

// Holm-Bonferroni adjusted p-values, in the input's order: the i-th smallest
// of m p-values becomes max over j <= i of min(1, (m - j + 1) p_(j)).
std::vector<double> HolmAdjust(absl::Span<const double> p_values);

// Wilson score 95% interval of a proportion k / n (n > 0).
Interval WilsonInterval(int64_t k, int64_t n);

}  // namespace evald::report

#endif  // EVALD_REPORT_STATS_H_
