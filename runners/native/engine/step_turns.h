// File: runners/native/engine/step_turns.h
// -----------------------------------------------------------------------------
// StepTurns: one scheduler of forward steps across the engines of a process.
// The candidate and the judge each have an engine (own model, KV pool and
// request queue), but they share one device: the CPU's cores or one GPU. An
// engine takes a turn before each forward step and gives it back after, and
// turns are granted first come, first served (a ticket lock). So while both
// models have work their steps interleave one for one (the judge grades the
// first finished samples while the candidate keeps generating, and neither
// starves), and a model alone on the device runs step after step unhindered.
// Steps never overlap, so two engines never fight over the same cores or
// launch into the same GPU at once.
//
// Thread-safety: thread-safe.
#ifndef EVALD_RUNNERS_NATIVE_ENGINE_STEP_TURNS_H_
#define EVALD_RUNNERS_NATIVE_ENGINE_STEP_TURNS_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace evald::runners::native::engine {

class StepTurns {
 public:
  StepTurns() = default;
  StepTurns(const StepTurns&) = delete;
  StepTurns& operator=(const StepTurns&) = delete;

  // The process-wide instance (one device per evald process).
  static StepTurns* Shared();

  // Blocks until it is the caller's turn.
  void Acquire();
  // Ends the caller's turn. REQUIRES: the caller holds the turn.
  void Release();

  // Callers waiting for a turn (not counting the holder).
  int64_t waiting() const;
  // Turns granted so far.
  int64_t granted() const;

 private:
  mutable absl::Mutex mu_;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t serving_ ABSL_GUARDED_BY(mu_) = 0;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
};

// Holds a turn for its lifetime; no-op when `turns` is null.
class StepTurn {
 public:
  explicit StepTurn(StepTurns* turns) : turns_(turns) {
    if (turns_ != nullptr) turns_->Acquire();
  }
  ~StepTurn() {
    if (turns_ != nullptr) turns_->Release();
  }
  StepTurn(const StepTurn&) = delete;
  StepTurn& operator=(const StepTurn&) = delete;

 private:
  StepTurns* const turns_;
};

}  // namespace evald::runners::native::engine

#endif  // EVALD_RUNNERS_NATIVE_ENGINE_STEP_TURNS_H_
