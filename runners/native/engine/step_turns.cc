// File: runners/native/engine/step_turns.cc
#include "runners/native/engine/step_turns.h"

namespace evald::runners::native::engine {

StepTurns* StepTurns::Shared() {
  static StepTurns* const turns =
      new StepTurns;  // never destroyed: engines may outlive statics
  return turns;
}

void StepTurns::Acquire() {
  absl::MutexLock lock(&mu_);
  const uint64_t ticket = next_ticket_++;
  auto mine = [this, ticket]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !held_ && serving_ == ticket;
  };
  mu_.Await(absl::Condition(&mine));
  held_ = true;
}

void StepTurns::Release() {
  absl::MutexLock lock(&mu_);
  held_ = false;
  ++serving_;
}

int64_t StepTurns::waiting() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(next_ticket_ - serving_) - (held_ ? 1 : 0);
}

int64_t StepTurns::granted() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(serving_) + (held_ ? 1 : 0);
}

}  // namespace evald::runners::native::engine
