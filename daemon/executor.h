// File: daemon/executor.h
// -----------------------------------------------------------------------------
// The job executor: one run at a time from the store's queue (priority, then
// FIFO). For each task of a run it creates the task, skips the documents
// already stored (resume), evaluates the rest through the candidate Runner
// with every finished sample written immediately, then aggregates from all
// stored samples of the task. Aggregating only stored samples is what makes
// a resumed run's scores equal an uninterrupted run's.
//
// Stopping: Cancel() stops a run promptly (state CANCELLED, samples kept);
// Drain() stops after the current sample and puts the run back in the
// queue, so the next daemon resumes it. Recover() (before Start) re-queues
// runs that a killed daemon left RUNNING or dequeued.
//
// Thread-safety: all public methods are thread-safe. One worker thread,
// started by Start() and joined by Drain() or the destructor.
#ifndef EVALD_DAEMON_EXECUTOR_H_
#define EVALD_DAEMON_EXECUTOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "daemon/model_cache.h"
#include "proto/service.pb.h"
#include "store/store.h"
#include "tasks/task.h"

namespace evald::daemon {

struct ExecutorOptions {
  // The daemon's data dir (default dataset folders live under it).
  std::string data_dir;
  // The daemon's host facts (CollectHostFingerprint): every attempt
  // fingerprints its inputs again on top of them.
  v1::Fingerprint host;
  // How long Drain() lets the work in flight finish (and be stored) before
  // it cancels the rest.
  absl::Duration drain_timeout = absl::Seconds(20);
};

class Executor {
 public:
  // `store`, `models` and `clock` are borrowed and must outlive the executor.
  Executor(ExecutorOptions options, store::Store* store, ModelCache* models,
           const base::Clock* clock);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Re-queues runs left RUNNING, and QUEUED runs missing from the queue.
  absl::Status Recover();
  void Start();
  // Stops taking runs and documents: the current run's documents in flight
  // finish and are stored (for at most drain_timeout, then the rest is
  // cancelled), the run goes back to the queue, and the worker is joined.
  void Drain();
  // A new run was queued.
  void Wake();

  // Cancels a queued or running run; returns its state after the request.
  // FailedPrecondition when it already finished.
  absl::StatusOr<v1::RunState> Cancel(const std::string& run_id);

  // Removes a run with everything stored of it; FailedPrecondition for the
  // running run (cancel it first). Atomic with respect to the worker taking
  // the next run.
  absl::StatusOr<v1::DeleteRunResponse> Delete(const std::string& run_id);
  // Checks (with `repair`, mends) the store, leaving the running run alone.
  absl::StatusOr<v1::CheckStoreResponse> CheckStore(bool repair);

  // Progress figures of the running run (nullopt when `run_id` is not running).
  struct Live {
    std::string task;
    double tokens_per_s = 0;
    double prefix_cache_hit_rate = 0;
    double eta_s = -1;
    int64_t judge_queued = 0;  // samples waiting for the judge
    int64_t judge_graded = 0;
  };
  std::optional<Live> LiveStatus(const std::string& run_id) const;

  // Change notification for Watch: returns the current version once it
  // differs from `seen`, or after `timeout`.
  uint64_t WaitForChange(uint64_t seen, absl::Duration timeout) const;

 private:
  enum class StopReason { kNone, kCancel, kDrain };
  struct LiveState;

  void Loop();
  // Runs one attempt of `run`, claimed RUNNING off the queue.
  void Execute(v1::RunRecord run);
  // Fingerprints the run's inputs again (models, datasets, host) and
  // compares them with `stored`, what its stored samples were made with. A
  // difference while samples are stored fails the attempt (naming file, old
  // and new hash) unless the run allows drift, in which case it is recorded
  // in run.resume_changes; either way `run`'s stored fingerprint becomes the
  // new one. Pins are checked again.
  absl::Status CheckInputs(v1::RunRecord& run, const v1::Fingerprint& stored);
  // Loads the run's models and runs every task, adding this attempt's
  // model-load, judge and engine figures to `run`.
  absl::StatusOr<v1::RunState> RunAttempt(v1::RunRecord& run);
  // Runs every task; returns the state the run ends in (or an error).
  // `figures` gives the attempt's engine figures so far, stored with each
  // sample.
  absl::StatusOr<v1::RunState> ExecuteTasks(
      v1::RunRecord& run, runners::Runner& runner, runners::Runner* judge,
      tasks::JudgeProgress* judge_progress,
      const std::function<v1::AttemptFigures()>& figures);
  // A pairwise baseline's answers by doc id (its stored samples of `task`).
  absl::StatusOr<std::map<std::string, std::string>> BaselineResponses(
      const std::string& run_id, const std::string& task);
  void Notify();

  const ExecutorOptions options_;
  store::Store* store_;
  ModelCache* models_;
  const base::Clock* clock_;

  mutable absl::Mutex mu_;
  std::string current_run_ ABSL_GUARDED_BY(mu_);
  StopReason stop_reason_ ABSL_GUARDED_BY(mu_) = StopReason::kNone;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<LiveState> live_ ABSL_GUARDED_BY(mu_);
  // Read by tasks and the runner without the lock: stop now (cancel), or
  // start nothing new (drain).
  std::atomic<bool> stop_current_{false};
  std::atomic<bool> drain_current_{false};

  mutable absl::Mutex notify_mu_;
  mutable absl::CondVar notify_cv_;
  uint64_t version_ ABSL_GUARDED_BY(notify_mu_) = 0;

  std::thread worker_;
};

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_EXECUTOR_H_
