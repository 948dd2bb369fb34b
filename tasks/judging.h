// File: tasks/judging.h
// -----------------------------------------------------------------------------
// Pipelined grading for tasks that use the suite's judge model. The task
// adds each finished candidate sample's judge items as soon as the
// candidate's generation for it returns; a worker thread grades whatever has
// accumulated in one batched judge call (so the judge starts on the first
// finished samples while the candidate is still generating the rest) and
// hands each sample's records back through `on_graded`.
//
// Timing: the wall time of every judge call is summed into
// JudgeProgress.busy_us; the part that ran before ProducerDone() (while the
// candidate was still generating) into overlap_us.
//
// Cancellation: once RunContext.cancelled is set, graded samples are not
// handed back (a resumed run redoes them).
//
// Thread-safety: Add() and ProducerDone() may be called from any thread;
// `on_graded` runs on the worker thread only, one call at a time.
#ifndef EVALD_TASKS_JUDGING_H_
#define EVALD_TASKS_JUDGING_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "judge/judge.h"
#include "tasks/task.h"
#include "tasks/task_util.h"

namespace evald::tasks {

class JudgingQueue {
 public:
  // `tag` is the caller's handle for the sample (e.g. its position).
  using OnGraded = std::function<absl::Status(
      size_t tag, std::vector<judge::JudgeRecord> records)>;

  // `judge` and `context` are borrowed and must outlive the queue.
  JudgingQueue(const judge::Judge* judge, const RunContext* context,
               OnGraded on_graded);
  ~JudgingQueue();
  JudgingQueue(const JudgingQueue&) = delete;
  JudgingQueue& operator=(const JudgingQueue&) = delete;

  // Queues one sample's items (graded together, in the same judge call).
  void Add(size_t tag, std::vector<judge::JudgeItem> items);
  // The candidate has finished generating.
  void ProducerDone();
  // ProducerDone(), then waits until everything queued is graded; returns the
  // first error of a judge call or of `on_graded`.
  absl::Status Finish();
  // A judge call or `on_graded` has failed (the producer should stop).
  bool failed() const { return failed_.load(); }

 private:
  struct Pending {
    size_t tag;
    std::vector<judge::JudgeItem> items;
  };
  void Loop();

  const judge::Judge* judge_;
  const RunContext* context_;
  OnGraded on_graded_;

  absl::Mutex mu_;
  std::deque<Pending> pending_ ABSL_GUARDED_BY(mu_);
  bool producer_done_ ABSL_GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point producer_done_at_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> failed_{false};
  std::thread worker_;
};

// Hands samples to a task's `on_sample` from several threads (the runner's
// callback and the judging thread), one at a time. The first error is kept,
// raises `relay` (so the runner call stops) and is returned for every later
// sample.
class SampleSink {
 public:
  SampleSink(const std::function<absl::Status(SampleResult)>* on_sample,
             CancelRelay* relay)
      : on_sample_(on_sample), relay_(relay) {}
  absl::Status Emit(SampleResult sample);
  absl::Status status() const;

 private:
  const std::function<absl::Status(SampleResult)>* on_sample_;
  CancelRelay* relay_;
  mutable absl::Mutex mu_;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

// The verdict text a JudgeCall stores for a record of `mode`.
std::string VerdictText(judge::Mode mode, const judge::JudgeRecord& record);

// A stored JudgeCall from a judge record.
JudgeCall ToJudgeCall(judge::Mode mode, const judge::JudgeRecord& record,
                      std::string order);

}  // namespace evald::tasks

#endif  // EVALD_TASKS_JUDGING_H_
