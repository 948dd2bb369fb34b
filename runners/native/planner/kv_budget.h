// File: runners/native/planner/kv_budget.h
// -----------------------------------------------------------------------------
// KvBudget: arbitrates one device's KV blocks between resident models (the
// candidate and a judge). Each model is guaranteed its minimum (max_context
// worth of blocks, from the memory plan); the remainder is a shared pool that
// a busy model borrows from and an idle model gives back, so a judge that is
// not scoring leaves its spare blocks to the candidate.
//
// Ownership: owns only counters; blocks themselves stay in each model's block
// pool, which asks here before growing and reports here after shrinking.
// Thread-safety: every method is thread-safe (one mutex).
#ifndef EVALD_RUNNERS_NATIVE_PLANNER_KV_BUDGET_H_
#define EVALD_RUNNERS_NATIVE_PLANNER_KV_BUDGET_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace evald::native {

class KvBudget {
 public:
  explicit KvBudget(int64_t total_blocks) : total_blocks_(total_blocks) {}
  KvBudget(const KvBudget&) = delete;
  KvBudget& operator=(const KvBudget&) = delete;

  // Reserves `min_blocks` for `model`. Fails when the name is taken or the
  // guaranteed minimums together would exceed the total.
  absl::Status Register(absl::string_view model, int64_t min_blocks);
  // Drops `model` and everything it held.
  void Unregister(absl::string_view model);

  // Asks for `wanted` more blocks beyond what `model` holds. Grants first from
  // its own unused minimum, then from the shared remainder; returns how many
  // were granted (0..wanted). Unknown model: NotFound.
  absl::StatusOr<int64_t> Acquire(absl::string_view model, int64_t wanted);
  // Returns `blocks` the model no longer uses (freed sequences).
  absl::Status Release(absl::string_view model, int64_t blocks);

  int64_t Held(absl::string_view model) const;     // blocks in use by model
  int64_t SharedFree() const;                      // remainder nobody holds
  int64_t total_blocks() const { return total_blocks_; }

 private:
  struct Lease {
    int64_t min_blocks = 0;
    int64_t held = 0;
  };
  // Blocks of the shared remainder not lent out (caller holds mu_).
  int64_t SharedFreeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t total_blocks_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Lease> leases_ ABSL_GUARDED_BY(mu_);
};

}  // namespace evald::native

#endif  // EVALD_RUNNERS_NATIVE_PLANNER_KV_BUDGET_H_
