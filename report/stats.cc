// File: report/stats.cc
#include "report/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace evald::report {
namespace {

constexpr double kZ95 = 1.959963984540054;

double LogChoose(int64_t n, int64_t k) {
  return std::lgamma(static_cast<double>(n) + 1) -
         std::lgamma(static_cast<double>(k) + 1) -
         std::lgamma(static_cast<double>(n - k) + 1);
}

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

double McNemarExactP(int64_t b, int64_t c) {
  const int64_t n = b + c;
  if (n == 0) return 1.0;
  const int64_t k = std::min(b, c);
  // log of sum_{i<=k} C(n, i), accumulated stably, then times 2^-n * 2.
  double log_sum = -INFINITY;
  for (int64_t i = 0; i <= k; ++i) {
    const double term = LogChoose(n, i);
    const double hi = std::max(log_sum, term);
    log_sum = hi + std::log(std::exp(log_sum - hi) + std::exp(term - hi));
  }
  const double p = std::exp(log_sum - static_cast<double>(n) * std::log(2.0) +
                            std::log(2.0));
  return std::min(1.0, p);
}

Interval PairedMeanInterval(absl::Span<const double> d) {
  const size_t n = d.size();
  if (n == 0) return {};
  const double mean =
      std::accumulate(d.begin(), d.end(), 0.0) / static_cast<double>(n);
  if (n < 2) return {mean, mean};
  double ss = 0;
  for (double v : d) ss += (v - mean) * (v - mean);
  const double se = std::sqrt(ss / static_cast<double>(n - 1)) /
                    std::sqrt(static_cast<double>(n));
  return {mean - kZ95 * se, mean + kZ95 * se};
}

BootstrapResult PairedBootstrap(absl::Span<const double> d, int resamples,
                                uint64_t seed) {
  BootstrapResult result;
  const size_t n = d.size();
  if (n == 0 || resamples <= 0) return result;
  uint64_t state = seed;
  std::vector<double> means(resamples);
  int64_t le = 0, ge = 0;
  for (int r = 0; r < resamples; ++r) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += d[SplitMix64(&state) % n];
    means[r] = sum / static_cast<double>(n);
    le += means[r] <= 0;
    ge += means[r] >= 0;
  }
  std::sort(means.begin(), means.end());
  auto quantile = [&](double q) {
    const size_t i = std::min(
        means.size() - 1, static_cast<size_t>(q * (means.size() - 1) + 0.5));
    return means[i];
  };
  result.interval = {quantile(0.025), quantile(0.975)};
  result.p_value = std::min(1.0, 2.0 * static_cast<double>(std::min(le, ge)) /
                                     static_cast<double>(resamples));
  return result;
}

std::vector<double> HolmAdjust(absl::Span<const double> p) {
  const size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> adjusted(m);
  double running = 0;
  for (size_t j = 0; j < m; ++j) {
    running = std::max(running,
                       std::min(1.0, static_cast<double>(m - j) * p[order[j]]));
    adjusted[order[j]] = running;
  }
  return adjusted;
}

Interval WilsonInterval(int64_t k, int64_t n) {
  if (n <= 0) return {};
  const double phat = static_cast<double>(k) / static_cast<double>(n);
  const double z2 = kZ95 * kZ95;
  const double denom = 1 + z2 / n;
  const double center = (phat + z2 / (2.0 * n)) / denom;
  const double half =
      kZ95 * std::sqrt(phat * (1 - phat) / n + z2 / (4.0 * n * n)) / denom;
  return {center - half, center + half};
}

}  // namespace evald::report
