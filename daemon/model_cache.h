// File: daemon/model_cache.h
// -----------------------------------------------------------------------------
// Resident models: Runners kept loaded between runs and direct model calls,
// keyed by model path + the options that change what is loaded, evicting the
// least recently used beyond `max_resident`. A caller holds a shared_ptr, so
// a model evicted while in use stays alive until its last user lets go.
//
// Thread-safety: thread-safe. Loading happens under the cache lock: one GPU
// loads one model at a time, and two callers asking for the same model get
// one load.
#ifndef EVALD_DAEMON_MODEL_CACHE_H_
#define EVALD_DAEMON_MODEL_CACHE_H_

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "proto/service.pb.h"
#include "runners/native/planner/kv_budget.h"
#include "runners/runner.h"

namespace evald::daemon {

using RunnerFactory =
    std::function<absl::StatusOr<std::unique_ptr<runners::Runner>>(
        const v1::ModelSpec& model)>;

// The production factory: native models through the engine when this binary
// has it, OpenAI-compatible endpoints through runners/openai. `num_threads` 0 =
// all cores; `device` "auto" (the GPU when the build and the machine have one),
// "cpu" or "cuda" (loading fails with a clear error where there is no GPU).
// `kv_budget` (borrowed, may be null): the memory ledger shared by every
// native model it loads, so their KV pools grow and shrink against each
// other (runners/native/planner/kv_budget.h). `max_num_seqs`: sequences each
// native model computes at once (0: the runner's default for its device).
RunnerFactory DefaultRunnerFactory(
    int num_threads, const std::string& device = "auto",
    runners::native::planner::KvBudget* kv_budget = nullptr,
    int max_num_seqs = 0);

class ModelCache {
 public:
  ModelCache(RunnerFactory factory, int max_resident, const base::Clock* clock);
  ModelCache(const ModelCache&) = delete;
  ModelCache& operator=(const ModelCache&) = delete;

  struct Lease {
    std::shared_ptr<runners::Runner> runner;
    double load_seconds = 0;  // 0 when it was already resident
  };
  // The resident runner for `model`, loading it (and evicting) if needed.
  // A load refused for memory (ResourceExhausted) is retried after each
  // eviction of a less recently used model, until none is left.
  absl::StatusOr<Lease> Get(const v1::ModelSpec& model);

  std::vector<v1::ResidentModel> List() const;
  int max_resident() const { return max_resident_; }

 private:
  struct Entry {
    std::string key;
    std::string identity;  // ModelFilesIdentity when loaded ("" for endpoints)
    std::string path;
    std::string options;
    std::shared_ptr<runners::Runner> runner;
    int64_t loaded_unix_ms = 0;
    int64_t last_used_unix_ms = 0;
  };

  const RunnerFactory factory_;
  const int max_resident_;
  const base::Clock* clock_;
  mutable absl::Mutex mu_;
  std::list<Entry> entries_ ABSL_GUARDED_BY(mu_);  // most recently used first
};

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_MODEL_CACHE_H_
