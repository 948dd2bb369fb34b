// File: runners/native/planner/kv_budget.h
// -----------------------------------------------------------------------------
// KvBudget: the memory ledger of one device (a GPU, or the machine's RAM)
// shared by the models resident on it - the candidate and a judge. Each
// model registers what it holds for good (weights, workspaces: `fixed`) and
// the KV it is guaranteed (`min`, its context window's worth); the rest of
// the total is a shared remainder that a busy model borrows KV from and an
// idle model gives back, so a judge that is not grading leaves its spare
// blocks to the candidate, and the judge's minimum is always there when it
// resumes. Nothing is reloaded: only KV memory moves.
//
// Units are bytes. A model asks for KV in units of its own slab size
// (Acquire's `unit`), so grants are whole slabs.
//
// A model whose Acquire fell short is "starved" until it next gets all it
// asked for (or clears it): the others see it through OthersStarved() and
// hand back the borrowed slabs they are not using.
//
// Ownership: owns only counters; the memory itself is committed and
// decommitted by each engine (runners/native/engine/elastic_kv.h), which
// asks here first and reports here after.
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

namespace evald::runners::native::planner {

class KvBudget {
 public:
  explicit KvBudget(int64_t total_bytes) : total_bytes_(total_bytes) {}
  KvBudget(const KvBudget&) = delete;
  KvBudget& operator=(const KvBudget&) = delete;

  // Reserves `fixed_bytes` (never lent) and guarantees `min_bytes` of KV to
  // `model`. Fails when the name is taken or the reservations and minimums
  // together would exceed the total; the message names the model and both
  // figures.
  absl::Status Register(absl::string_view model, int64_t min_bytes,
                        int64_t fixed_bytes = 0);
  // Drops `model` and everything it held.
  void Unregister(absl::string_view model);

  // Asks for `wanted` more bytes of KV beyond what `model` holds, granted in
  // whole multiples of `unit` (> 0): first from its own unused minimum, then
  // from the shared remainder. Returns the bytes granted (0..wanted). A grant
  // short of `wanted` marks the model starved. Unknown model: NotFound.
  absl::StatusOr<int64_t> Acquire(absl::string_view model, int64_t wanted,
                                  int64_t unit = 1);
  // Returns `bytes` of KV the model no longer uses.
  absl::Status Release(absl::string_view model, int64_t bytes);
  // The model no longer waits for memory (its allocations fit again).
  void ClearStarved(absl::string_view model);

  int64_t Held(absl::string_view model) const;  // KV bytes held by model
  int64_t SharedFree() const;                   // remainder nobody holds
  // True when another registered model asked for memory and was refused.
  bool OthersStarved(absl::string_view model) const;
  int64_t total_bytes() const { return total_bytes_; }

 private:
  struct Lease {
    int64_t fixed = 0;
    int64_t min = 0;
    int64_t held = 0;
    bool starved = false;
  };
  // Bytes of the total nobody holds or is guaranteed (caller holds mu_).
  int64_t SharedFreeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t total_bytes_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Lease> leases_ ABSL_GUARDED_BY(mu_);
};

}  // namespace evald::runners::native::planner

#endif  // EVALD_RUNNERS_NATIVE_PLANNER_KV_BUDGET_H_
