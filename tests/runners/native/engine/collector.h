// File: tests/runners/native/engine/collector.h
// -----------------------------------------------------------------------------
// Collects Engine callbacks (which run on the engine thread) for the test
// thread: For(i) is request i's callback, Wait() blocks until every one ran.
#ifndef EVALD_TESTS_RUNNERS_NATIVE_ENGINE_COLLECTOR_H_
#define EVALD_TESTS_RUNNERS_NATIVE_ENGINE_COLLECTOR_H_

#include <cstddef>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runners/native/engine/engine.h"

namespace evald::runners::native::testing {

template <typename T>
class Collector {
 public:
  explicit Collector(size_t n)
      : results_(n, absl::UnknownError("not delivered")), left_(n) {}
  engine::Engine::Callback<T> For(size_t i) {
    return [this, i](absl::StatusOr<T> r) {
      absl::MutexLock l(&mu_);
      results_[i] = std::move(r);
      --left_;
    };
  }
  std::vector<absl::StatusOr<T>> Wait() {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(
        +[](size_t* left) { return *left == 0; }, &left_));
    return results_;
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::StatusOr<T>> results_;
  size_t left_;
};

}  // namespace evald::runners::native::testing

#endif  // EVALD_TESTS_RUNNERS_NATIVE_ENGINE_COLLECTOR_H_
