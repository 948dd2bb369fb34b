#include "runners/native/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "base/logging.h"

namespace evald::runners::native::engine {

double TokenLogprob(absl::Span<const float> logits, int32_t token) {
  CHECK(token >= 0 && static_cast<size_t>(token) < logits.size());
  double max = -INFINITY;
  for (float v : logits) max = std::max(max, static_cast<double>(v));
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  return static_cast<double>(logits[token]) - max - std::log(sum);
}

int32_t Argmax(absl::Span<const float> logits) {
  CHECK(!logits.empty());
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

int32_t SampleToken(absl::Span<const float> logits,
                    const runners::SamplingParams& params, TokenRng* rng) {
  if (params.temperature <= 0) return Argmax(logits);
  const size_t v = logits.size();
  // Candidates ordered by probability, ties by id, so the order is total.
  std::vector<int32_t> ids(v);
  std::iota(ids.begin(), ids.end(), 0);
  const auto by_prob = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  size_t keep = v;
  if (params.top_k > 0 && static_cast<size_t>(params.top_k) < v) {
    keep = static_cast<size_t>(params.top_k);
    std::partial_sort(ids.begin(), ids.begin() + keep, ids.end(), by_prob);
  } else if (params.top_p < 1.0) {
    std::sort(ids.begin(), ids.end(), by_prob);
  }
  // Without truncation the order stays by id, which is as total as any.
  double max = -INFINITY;
  for (size_t i = 0; i < keep; ++i)
    max = std::max(max, static_cast<double>(logits[ids[i]]));
  std::vector<double> p(keep);
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) {
    p[i] = std::exp((static_cast<double>(logits[ids[i]]) - max) /
                    params.temperature);
    sum += p[i];
  }
  if (params.top_p < 1.0) {
    double cum = 0;
    size_t n = 0;
    while (n < keep) {
      cum += p[n] / sum;
      ++n;
      if (cum >= params.top_p) break;
    }
    keep = std::max<size_t>(n, 1);
    sum = 0;
    for (size_t i = 0; i < keep; ++i) sum += p[i];
  }
  const double u = rng->NextUniform() * sum;
  double cum = 0;
  for (size_t i = 0; i < keep; ++i) {
    cum += p[i];
    if (u < cum) return ids[i];
  }
  return ids[keep - 1];
}

}  // namespace evald::runners::native::engine
