// File: tasks/python_random.h
// -----------------------------------------------------------------------------
// A bit-exact reproduction of CPython's `random.Random` for the parts
// lm-evaluation-harness uses to draw few-shot examples: seeding from an
// integer (MT19937 init_by_array over the 32-bit words of |seed|),
// getrandbits, _randbelow (rejection sampling), random(), gauss() and
// Random.sample over range(n), including its choice between the pool-based
// and the set-based algorithm. Same seed and same calls give the same numbers
// as CPython 3.x.
//
// Thread-safety: not thread-safe; one generator per thread.
#ifndef EVALD_TASKS_PYTHON_RANDOM_H_
#define EVALD_TASKS_PYTHON_RANDOM_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace evald::tasks {

class PythonRandom {
 public:
  // random.Random(seed) for a non-negative integer seed.
  explicit PythonRandom(uint64_t seed);

  // random.getrandbits(k) for 0 <= k <= 64.
  uint64_t GetRandBits(int k);
  // Random._randbelow(n): uniform in [0, n). REQUIRES: n >= 1.
  uint64_t RandBelow(uint64_t n);
  // random.random(): 53 random bits as a double in [0, 1).
  double Random();
  // random.gauss(mu, sigma), including CPython's caching of the second value
  // of each Box-Muller pair.
  double Gauss(double mu, double sigma);
  // Random.sample(range(n), k): k distinct indices in selection order.
  // InvalidArgument when k > n (CPython raises ValueError).
  absl::StatusOr<std::vector<uint64_t>> Sample(uint64_t n, uint64_t k);

 private:
  uint32_t NextUint32();
  void InitGenrand(uint32_t s);
  void InitByArray(const std::vector<uint32_t>& key);

  static constexpr int kN = 624;
  std::array<uint32_t, kN> mt_{};
  int mti_ = kN + 1;
  bool has_gauss_next_ = false;
  double gauss_next_ = 0;
};

}  // namespace evald::tasks

#endif  // EVALD_TASKS_PYTHON_RANDOM_H_
