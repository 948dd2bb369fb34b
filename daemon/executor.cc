#include "daemon/executor.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "daemon/aggregate.h"
#include "daemon/fingerprint.h"
#include "daemon/queries.h"
#include "daemon/run_validation.h"
#include "daemon/suite.h"
#include "daemon/task_records.h"
#include "tasks/task.h"

namespace evald::daemon {
namespace {

bool IsFinal(v1::RunState s) {
  return s == v1::SUCCEEDED || s == v1::FAILED || s == v1::CANCELLED;
}

std::string ModelName(const v1::ModelSpec& model) {
  return model.source_case() == v1::ModelSpec::kEndpoint
             ? absl::StrCat(model.model(), " at ", model.endpoint())
             : model.path();
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> Executor::BaselineResponses(
    const std::string& run_id, const std::string& task) {
  auto baseline_run = store_->GetRun(run_id);
  if (!baseline_run.ok()) {
    return absl::Status(baseline_run.status().code(),
                        absl::StrCat("task '", task, "': baseline run ", run_id,
                                     ": ", baseline_run.status().message()));
  }
  ASSIGN_OR_RETURN(std::vector<v1::SampleRecord> samples,
                   store_->ListSamples(run_id, task));
  std::map<std::string, std::string> responses;
  for (const v1::SampleRecord& s : samples) {
    if (s.error().empty() && s.responses_size() > 0)
      responses[s.doc_id()] = s.responses(0);
  }
  if (responses.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("task '", task, "': baseline run ", run_id,
                     " has no answers of task '", task, "'"));
  }
  return responses;
}

struct Executor::LiveState {
  std::string task;
  std::shared_ptr<runners::Runner> runner;
  runners::RunnerStats stats_at_start;
  int64_t started_mono_ns = 0;
  int64_t done_this_attempt = 0;
  int64_t remaining = 0;  // documents left in the whole run
  std::shared_ptr<tasks::JudgeProgress> judge;
};

Executor::Executor(ExecutorOptions options, store::Store* store,
                   ModelCache* models, const base::Clock* clock)
    : options_(std::move(options)),
      store_(store),
      models_(models),
      clock_(clock) {}

Executor::~Executor() { Drain(); }

absl::Status Executor::Recover() {
  ASSIGN_OR_RETURN(std::vector<v1::QueueEntry> queue, store_->ListQueue());
  std::set<std::string> queued;
  for (const v1::QueueEntry& e : queue) queued.insert(e.run_id());
  for (v1::RunState state : {v1::RUNNING, v1::QUEUED}) {
    store::RunFilter filter;
    filter.state = state;
    ASSIGN_OR_RETURN(std::vector<v1::RunRecord> runs, store_->ListRuns(filter));
    // Oldest first, so re-queued runs keep their relative order.
    std::reverse(runs.begin(), runs.end());
    for (v1::RunRecord& run : runs) {
      if (queued.count(run.id()) > 0) continue;
      // A sharded run is computed by its Slurm jobs; the cluster manager
      // re-attaches to them (daemon/cluster/coordinator.h).
      if (run.spec().cluster().slurm().shards() > 0) continue;
      if (run.state() == v1::RUNNING) {
        LOG(INFO) << "resuming run " << run.id()
                  << " left running by a previous daemon";
        run.set_state(v1::QUEUED);
        run.clear_fingerprint();  // PutRun keeps the stored one
        RETURN_IF_ERROR(store_->PutRun(run));
      }
      absl::Status queued_now =
          store_->Enqueue(run.id(), run.spec().priority());
      if (!queued_now.ok() && !absl::IsAlreadyExists(queued_now))
        return queued_now;
      queued.insert(run.id());
    }
  }
  return absl::OkStatus();
}

void Executor::Start() {
  worker_ = std::thread([this] { Loop(); });
}

void Executor::Drain() {
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    if (!current_run_.empty() && stop_reason_ == StopReason::kNone) {
      stop_reason_ = StopReason::kDrain;
      drain_current_.store(true);
    }
    // The documents in flight finish and are stored; what is still running
    // when the time is up is cancelled (a resumed run computes it again).
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return current_run_.empty();
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&idle), options_.drain_timeout)) {
      LOG(WARNING) << "drain: run " << current_run_
                   << " still has work in flight after "
                   << absl::FormatDuration(options_.drain_timeout)
                   << "; cancelling it";
      stop_current_.store(true);
    }
  }
  if (worker_.joinable()) worker_.join();
}

void Executor::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void Executor::Notify() {
  absl::MutexLock lock(&notify_mu_);
  ++version_;
  notify_cv_.SignalAll();
}

uint64_t Executor::WaitForChange(uint64_t seen, absl::Duration timeout) const {
  absl::MutexLock lock(&notify_mu_);
  const absl::Time deadline = absl::Now() + timeout;
  while (version_ == seen) {
    if (notify_cv_.WaitWithDeadline(&notify_mu_, deadline)) break;
  }
  return version_;
}

absl::StatusOr<v1::RunState> Executor::Cancel(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(v1::RunRecord run, store_->GetRun(run_id));
  if (IsFinal(run.state())) {
    return absl::FailedPreconditionError(
        absl::StrCat("run ", run_id, " already ",
                     run.state() == v1::SUCCEEDED ? "succeeded"
                     : run.state() == v1::FAILED  ? "failed"
                                                  : "was cancelled"));
  }
  if (current_run_ == run_id) {
    stop_reason_ = StopReason::kCancel;
    stop_current_.store(true);
    return v1::RUNNING;  // becomes CANCELLED as soon as the worker stops
  }
  absl::Status removed = store_->RemoveFromQueue(run_id);
  if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  run.set_state(v1::CANCELLED);
  run.set_finished_unix_ms(clock_->NowUnixNanos() / 1'000'000);
  run.set_error("cancelled before it started");
  run.clear_fingerprint();
  RETURN_IF_ERROR(store_->PutRun(run));
  Notify();
  return v1::CANCELLED;
}

absl::StatusOr<v1::DeleteRunResponse> Executor::Delete(
    const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  if (current_run_ == run_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "run ", run_id, " is running; cancel it first (`evalctl cancel ",
        run_id, "`)"));
  }
  ASSIGN_OR_RETURN(v1::DeleteRunResponse deleted,
                   DeleteStoredRun(*store_, run_id));
  LOG(INFO) << "deleted run " << run_id << " (" << deleted.samples()
            << " samples)";
  Notify();
  return deleted;
}

absl::StatusOr<v1::CheckStoreResponse> Executor::CheckStore(bool repair) {
  absl::MutexLock lock(&mu_);
  std::set<std::string> skip;
  if (!current_run_.empty()) skip.insert(current_run_);
  return CheckStoredRecords(*store_, repair, skip);
}

std::optional<Executor::Live> Executor::LiveStatus(
    const std::string& run_id) const {
  absl::MutexLock lock(&mu_);
  if (current_run_ != run_id || live_ == nullptr) return std::nullopt;
  Live live;
  live.task = live_->task;
  if (live_->judge != nullptr) {
    live.judge_queued = live_->judge->queued.load();
    live.judge_graded = live_->judge->graded.load();
  }
  if (live_->runner == nullptr) return live;
  const runners::RunnerStats now = live_->runner->stats();
  const double elapsed =
      static_cast<double>(clock_->MonotonicNanos() - live_->started_mono_ns) /
      1e9;
  const int64_t prompt =
      now.prompt_tokens - live_->stats_at_start.prompt_tokens;
  const int64_t cached =
      now.cached_prompt_tokens - live_->stats_at_start.cached_prompt_tokens;
  const int64_t generated =
      now.generated_tokens - live_->stats_at_start.generated_tokens;
  if (elapsed > 0)
    live.tokens_per_s = static_cast<double>(prompt + generated) / elapsed;
  if (prompt > 0)
    live.prefix_cache_hit_rate =
        static_cast<double>(cached) / static_cast<double>(prompt);
  if (live_->done_this_attempt > 0) {
    live.eta_s = elapsed / static_cast<double>(live_->done_this_attempt) *
                 static_cast<double>(live_->remaining);
  }
  return live;
}

void Executor::Loop() {
  while (true) {
    std::optional<v1::RunRecord> claimed;
    {
      absl::MutexLock lock(&mu_);
      if (draining_) return;
      // Off the queue and RUNNING in one atomic write: a crash leaves the
      // run either queued or running (which Recover re-queues), never lost.
      auto next = store_->ClaimNextRun();
      if (!next.ok()) {
        LOG(ERROR) << "reading the queue: " << next.status();
      } else if (next->has_value()) {
        claimed = *std::move(*next);
        current_run_ = claimed->id();
        stop_reason_ = StopReason::kNone;
        stop_current_.store(false);
        drain_current_.store(false);
      }
      if (!claimed.has_value()) {
        auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return woken_ || draining_;
        };
        mu_.AwaitWithTimeout(absl::Condition(&wake), absl::Seconds(1));
        woken_ = false;
        continue;
      }
    }
    Execute(*std::move(claimed));
    {
      absl::MutexLock lock(&mu_);
      current_run_.clear();
      live_.reset();
    }
    Notify();
  }
}

void Executor::Execute(v1::RunRecord run) {
  const std::string run_id = run.id();
  // A killed attempt's figures become part of the run's record now.
  if (absl::Status s = store_->AddUnfoldedFigures(&run); !s.ok()) {
    LOG(ERROR) << "run " << run_id << ": " << s;
    return;
  }
  const v1::Fingerprint stored_fingerprint = run.fingerprint();
  run.clear_fingerprint();  // PutRun keeps the stored one
  // ClaimNextRun made it RUNNING and stamped its first start.
  run.set_attempt(run.attempt() + 1);
  run.set_error("");
  if (run.attempt() == 1) {
    run.mutable_phases()->set_queue_s(
        static_cast<double>(run.started_unix_ms() - run.created_unix_ms()) /
        1e3);
  }
  if (absl::Status s = store_->PutRun(run, /*fold_figures=*/true); !s.ok()) {
    LOG(ERROR) << "run " << run_id << ": " << s;
    return;
  }
  Notify();
  LOG(INFO) << "run " << run_id << " (" << run.spec().name()
            << ") starting, attempt " << run.attempt();

  absl::StatusOr<v1::RunState> final_state;
  if (absl::Status inputs = CheckInputs(run, stored_fingerprint);
      !inputs.ok()) {
    final_state = inputs;
  } else {
    final_state = RunAttempt(run);
  }

  StopReason reason;
  {
    absl::MutexLock lock(&mu_);
    reason = stop_reason_;
  }
  const int64_t end_ms = clock_->NowUnixNanos() / 1'000'000;
  if (reason == StopReason::kDrain &&
      !(final_state.ok() && *final_state == v1::SUCCEEDED)) {
    // Back to the queue: the next daemon resumes from the stored samples.
    run.set_state(v1::QUEUED);
    LOG(INFO) << "run " << run_id << " drained; it resumes when evald restarts";
    if (absl::Status s = store_->PutRun(run, /*fold_figures=*/true); !s.ok())
      LOG(ERROR) << s;
    if (absl::Status s = store_->Enqueue(run_id, run.spec().priority());
        !s.ok()) {
      LOG(ERROR) << "re-queueing run " << run_id << ": " << s;
    }
    return;
  }
  if (reason == StopReason::kCancel &&
      !(final_state.ok() && *final_state == v1::SUCCEEDED)) {
    run.set_state(v1::CANCELLED);
    run.set_error("cancelled by request");
  } else if (!final_state.ok()) {
    run.set_state(v1::FAILED);
    run.set_error(std::string(final_state.status().message()));
  } else {
    run.set_state(*final_state);
  }
  run.set_finished_unix_ms(end_ms);
  run.mutable_phases()->set_total_s(
      static_cast<double>(end_ms - run.created_unix_ms()) / 1e3);
  LOG(INFO) << "run " << run_id << " " << v1::RunState_Name(run.state())
            << (run.error().empty() ? "" : ": ") << run.error();
  if (absl::Status s = store_->PutRun(run, /*fold_figures=*/true); !s.ok()) {
    LOG(ERROR) << "run " << run_id << ": " << s;
  }
}

absl::Status Executor::CheckInputs(v1::RunRecord& run,
                                   const v1::Fingerprint& stored) {
  StoreHashCache cache(store_);
  absl::StatusOr<PreparedRun> fresh =
      PrepareRun(run.spec(), options_.data_dir, options_.host, &cache);
  if (!fresh.ok()) {
    return absl::Status(
        fresh.status().code(),
        absl::StrCat("checking the inputs before attempt ", run.attempt(), ": ",
                     fresh.status().message()));
  }
  // A run stored without a fingerprint (made by a client that set none)
  // has nothing to compare with.
  const bool had_fingerprint =
      stored.models_size() > 0 || stored.tasks_size() > 0;
  const std::vector<v1::Drift> changes =
      had_fingerprint ? DiffFingerprints(stored, fresh->fingerprint)
                      : std::vector<v1::Drift>();
  int64_t stored_samples = 0;
  for (const v1::TaskProgress& p : run.progress()) stored_samples += p.done();
  if (!changes.empty() && stored_samples > 0) {
    std::vector<std::string> parts;
    for (const v1::Drift& d : changes) {
      parts.push_back(
          absl::StrCat(d.field(), ": ", d.expected(), " -> ", d.found()));
    }
    const std::string what = absl::StrJoin(parts, "; ");
    if (!run.spec().allow_drift()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "attempt ", run.attempt(),
          " refused to resume: the run's inputs changed after ", stored_samples,
          " of its samples were stored (", what,
          "); mixing them would make its scores mean nothing. Submit it again "
          "as a new run, "
          "or with --allow-drift to continue and record the change"));
    }
    LOG(WARNING) << "run " << run.id() << ": inputs changed before attempt "
                 << run.attempt() << " (allowed, recorded): " << what;
    v1::ResumeChange* change = run.add_resume_changes();
    change->set_attempt(run.attempt());
    change->set_unix_ms(clock_->NowUnixNanos() / 1'000'000);
    for (const v1::Drift& d : changes) *change->add_changes() = d;
    for (const v1::TaskProgress& p : run.progress()) {
      v1::TaskProgress* before = change->add_samples_before();
      before->set_task(p.task());
      before->set_done(p.done());
    }
    run.set_drifted(true);
  } else if (!changes.empty()) {
    LOG(INFO) << "run " << run.id()
              << ": inputs changed before any sample was stored; "
              << "fingerprinted again (" << changes.size() << " difference(s))";
  }
  // Pin mismatches found now (allowed, or PrepareRun would have refused).
  for (const v1::Drift& d : fresh->drift) {
    bool known = false;
    for (const v1::Drift& have : run.drift()) {
      known = known || (have.field() == d.field() && have.found() == d.found());
    }
    if (!known) *run.add_drift() = d;
  }
  if (!fresh->drift.empty()) run.set_drifted(true);
  *run.mutable_fingerprint() = std::move(fresh->fingerprint);
  absl::Status stored_ok = store_->PutRun(run);
  run.clear_fingerprint();  // PutRun keeps the stored one from here on
  return stored_ok;
}

absl::StatusOr<v1::RunState> Executor::RunAttempt(v1::RunRecord& run) {
  auto lease = models_->Get(run.spec().candidate());
  // Both models are resident for the whole run: the judge grades while the
  // candidate generates.
  absl::StatusOr<ModelCache::Lease> judge_lease =
      absl::NotFoundError("no judge");
  if (lease.ok() && run.spec().has_judge()) {
    judge_lease = models_->Get(run.spec().judge());
    if (!judge_lease.ok()) {
      lease = absl::Status(
          judge_lease.status().code(),
          absl::StrCat("loading judge model ", ModelName(run.spec().judge()),
                       ": ", judge_lease.status().message()));
    } else {
      run.mutable_phases()->set_model_load_s(run.phases().model_load_s() +
                                             judge_lease->load_seconds);
    }
  } else if (!lease.ok()) {
    lease = absl::Status(lease.status().code(),
                         absl::StrCat("loading candidate model ",
                                      ModelName(run.spec().candidate()), ": ",
                                      lease.status().message()));
  }
  if (!lease.ok()) return lease.status();
  run.mutable_phases()->set_model_load_s(run.phases().model_load_s() +
                                         lease->load_seconds);
  auto judge_progress = std::make_shared<tasks::JudgeProgress>();
  {
    absl::MutexLock lock(&mu_);
    live_ = std::make_unique<LiveState>();
    live_->runner = lease->runner;
    live_->stats_at_start = lease->runner->stats();
    live_->started_mono_ns = clock_->MonotonicNanos();
    live_->judge = judge_progress;
  }
  // This attempt's own figures so far. They go into the store with each of
  // its samples, so an attempt killed with SIGKILL still counts its work,
  // and into the run's record when it ends.
  const runners::RunnerStats before = lease->runner->stats();
  runners::Runner& runner = *lease->runner;
  auto attempt_figures = [&] {
    const runners::RunnerStats now = runner.stats();
    v1::AttemptFigures f;
    f.set_attempt(run.attempt());
    v1::EngineStats* st = f.mutable_stats();
    st->set_prompt_tokens(now.prompt_tokens - before.prompt_tokens);
    st->set_cached_prompt_tokens(now.cached_prompt_tokens -
                                 before.cached_prompt_tokens);
    st->set_generated_tokens(now.generated_tokens - before.generated_tokens);
    st->set_busy_s(now.busy_seconds - before.busy_seconds);
    v1::PhaseTimes* ph = f.mutable_phases();
    ph->set_prefill_s(now.prefill_seconds - before.prefill_seconds);
    ph->set_decode_s(now.decode_seconds - before.decode_seconds);
    ph->set_judge_s(static_cast<double>(judge_progress->busy_us.load()) / 1e6);
    ph->set_judge_overlap_s(
        static_cast<double>(judge_progress->overlap_us.load()) / 1e6);
    return f;
  };
  runners::Runner* judge =
      judge_lease.ok() ? judge_lease->runner.get() : nullptr;
  absl::StatusOr<v1::RunState> final_state =
      ExecuteTasks(run, runner, judge, judge_progress.get(), attempt_figures);
  const v1::AttemptFigures f = attempt_figures();
  v1::EngineStats* st = run.mutable_stats();
  st->set_prompt_tokens(st->prompt_tokens() + f.stats().prompt_tokens());
  st->set_cached_prompt_tokens(st->cached_prompt_tokens() +
                               f.stats().cached_prompt_tokens());
  st->set_generated_tokens(st->generated_tokens() +
                           f.stats().generated_tokens());
  st->set_busy_s(st->busy_s() + f.stats().busy_s());
  v1::PhaseTimes* ph = run.mutable_phases();
  ph->set_prefill_s(ph->prefill_s() + f.phases().prefill_s());
  ph->set_decode_s(ph->decode_s() + f.phases().decode_s());
  ph->set_judge_s(ph->judge_s() + f.phases().judge_s());
  ph->set_judge_overlap_s(ph->judge_overlap_s() + f.phases().judge_overlap_s());
  return final_state;
}

absl::StatusOr<v1::RunState> Executor::ExecuteTasks(
    v1::RunRecord& run, runners::Runner& runner, runners::Runner* judge,
    tasks::JudgeProgress* judge_progress,
    const std::function<v1::AttemptFigures()>& figures) {
  const v1::RunSpec& spec = run.spec();
  // Create every task first: a bad dataset fails the run before any work.
  std::vector<std::unique_ptr<tasks::Task>> task_objects;
  std::vector<std::vector<std::string>> doc_ids;
  int64_t remaining = 0;
  std::vector<std::set<int64_t>> done_sets;
  run.clear_progress();
  for (const v1::TaskSpec& t : spec.tasks()) {
    auto task = CreateSpecTask(spec, t, options_.data_dir);
    if (!task.ok()) return task.status();
    // The task applies `limit` itself, with its own meaning (mmlu: per
    // subject, as lm-eval's --limit); its DocIds() are the documents to run.
    std::vector<std::string> ids = (*task)->DocIds();
    ASSIGN_OR_RETURN(std::set<int64_t> done,
                     store_->DoneDocIndices(run.id(), t.name()));
    remaining +=
        static_cast<int64_t>(ids.size()) - static_cast<int64_t>(done.size());
    v1::TaskProgress* p = run.add_progress();
    p->set_task(t.name());
    p->set_total(static_cast<int64_t>(ids.size()));
    p->set_done(static_cast<int64_t>(done.size()));
    task_objects.push_back(std::move(*task));
    doc_ids.push_back(std::move(ids));
    done_sets.push_back(std::move(done));
  }
  RETURN_IF_ERROR(store_->PutRun(run));
  {
    absl::MutexLock lock(&mu_);
    if (live_ != nullptr) live_->remaining = remaining;
  }
  Notify();

  for (size_t i = 0; i < task_objects.size(); ++i) {
    const std::string& name = spec.tasks(static_cast<int>(i)).name();
    tasks::Task& task = *task_objects[i];
    tasks::RunContext context;
    context.cancelled = &stop_current_;
    context.draining = &drain_current_;
    context.judge = judge;
    context.judge_progress = judge_progress;
    std::map<std::string, std::string> baseline;
    if (task.info().needs_baseline) {
      const auto& options = spec.tasks(static_cast<int>(i)).options();
      auto it = options.find("baseline");
      if (it != options.end()) {
        ASSIGN_OR_RETURN(baseline, BaselineResponses(it->second, name));
        context.baseline_run = it->second;
        context.baseline_responses = &baseline;
      }
    }
    const std::vector<std::string>& ids = doc_ids[i];
    std::vector<size_t> todo;
    std::vector<bool> asked(ids.size(), false);
    for (size_t d = 0; d < ids.size(); ++d) {
      if (done_sets[i].count(static_cast<int64_t>(d)) > 0) continue;
      todo.push_back(d);
      asked[d] = true;
    }
    {
      absl::MutexLock lock(&mu_);
      if (live_ != nullptr) live_->task = name;
    }
    if (!todo.empty()) {
      if (stop_current_.load() || drain_current_.load())
        return absl::CancelledError("stopped");
      absl::Status status = task.Run(
          runner, todo, context,
          [&](tasks::SampleResult result) -> absl::Status {
            // Each document asked for comes back once, under its own index.
            if (result.doc_index >= asked.size() || !asked[result.doc_index]) {
              return absl::InternalError(absl::StrCat(
                  "task '", name, "' returned document ", result.doc_index,
                  " (", result.doc_id, "), which it was not asked for"));
            }
            asked[result.doc_index] = false;
            const v1::AttemptFigures so_far = figures();
            const SampleOrigin origin{
                .run_id = run.id(),
                .attempt = run.attempt(),
                .task = name,
                .finished_unix_ms = clock_->NowUnixNanos() / 1'000'000};
            RETURN_IF_ERROR(store_->PutSample(
                ToSampleRecord(origin, std::move(result)), &so_far));
            {
              absl::MutexLock lock(&mu_);
              if (live_ != nullptr) {
                ++live_->done_this_attempt;
                --live_->remaining;
              }
            }
            Notify();
            return absl::OkStatus();
          });
      // Drained: the documents that did not start are not stored; the run
      // resumes them.
      if (stop_current_.load() || drain_current_.load())
        return absl::CancelledError("stopped");
      if (!status.ok()) {
        return absl::Status(
            status.code(),
            absl::StrCat("task '", name, "': ", status.message()));
      }
    }
    // Aggregate from everything stored, whichever attempt computed it.
    const int64_t t_score = clock_->MonotonicNanos();
    RETURN_IF_ERROR(AggregateStoredTask(*store_, run.id(), name, task,
                                        static_cast<int64_t>(ids.size())));
    run.mutable_phases()->set_scoring_s(
        run.phases().scoring_s() +
        static_cast<double>(clock_->MonotonicNanos() - t_score) / 1e9);
    Notify();
  }
  return v1::SUCCEEDED;
}

}  // namespace evald::daemon
