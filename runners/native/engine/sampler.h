// File: runners/native/engine/sampler.h
// -----------------------------------------------------------------------------
// Log-probabilities and token choice from one row of logits.
//
// Every reduction runs in double, in index order, so a result depends only on
// the logits row - never on the batch it came from. Sampling draws exactly
// one uniform number per generated token from a per-request generator seeded
// by the request, so sampled text does not depend on batching either.
//
// Thread-safety: pure functions; a TokenRng is owned by one request.
#ifndef EVALD_RUNNERS_NATIVE_ENGINE_SAMPLER_H_
#define EVALD_RUNNERS_NATIVE_ENGINE_SAMPLER_H_

#include <cstdint>
#include <random>

#include "absl/types/span.h"
#include "runners/runner.h"

namespace evald::runners::native::engine {

// log_softmax(logits)[token], computed in double.
double TokenLogprob(absl::Span<const float> logits, int32_t token);

// The first index of the largest logit (ties go to the lower id, as argmax).
int32_t Argmax(absl::Span<const float> logits);

// A seeded source of uniform doubles in [0, 1), identical on every platform
// (std::uniform_real_distribution is implementation-defined).
class TokenRng {
 public:
  explicit TokenRng(uint64_t seed) : gen_(seed) {}
  double NextUniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }

 private:
  std::mt19937_64 gen_;
};

// Greedy when params.temperature == 0; otherwise temperature, then top-k,
// then top-p (the smallest set of most probable tokens whose mass reaches
// top_p), then one draw from `rng`.
int32_t SampleToken(absl::Span<const float> logits,
                    const runners::SamplingParams& params, TokenRng* rng);

}  // namespace evald::runners::native::engine

#endif  // EVALD_RUNNERS_NATIVE_ENGINE_SAMPLER_H_
