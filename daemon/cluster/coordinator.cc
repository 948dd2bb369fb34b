#include "daemon/cluster/coordinator.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "daemon/aggregate.h"
#include "daemon/cluster/shard_files.h"
#include "daemon/run_validation.h"
#include "daemon/suite.h"
#include "tasks/task.h"

namespace evald::daemon::cluster {
namespace {

bool IsFinalRun(v1::RunState s) {
  return s == v1::SUCCEEDED || s == v1::FAILED || s == v1::CANCELLED;
}

// The array job of "<array>_<index>".
std::string ArrayOf(const std::string& job_id) {
  return job_id.substr(0, job_id.find('_'));
}

// Whether `name` runs as a command: a path that is executable, or a name
// found on PATH.
bool FindCommand(const std::string& name, std::string* path_var) {
  if (name.find('/') != std::string::npos)
    return access(name.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  *path_var = path == nullptr ? "" : path;
  for (absl::string_view dir : absl::StrSplit(*path_var, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

}  // namespace

Coordinator::Coordinator(CoordinatorOptions options, store::Store* store,
                         ShardService* shards, const base::Clock* clock)
    : options_(std::move(options)),
      store_(store),
      shards_(shards),
      clock_(clock),
      slurm_(options_.slurm) {}

Coordinator::~Coordinator() { Stop(); }

absl::Status Coordinator::CheckSubmit(const v1::RunSpec& spec) const {
  const v1::SlurmSpec& slurm = spec.cluster().slurm();
  for (const v1::TaskSpec& t : spec.tasks()) {
    if (t.options().count("baseline") > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "task '", t.name(),
          "': a pairwise baseline is not supported in a sharded run "
          "(cluster.slurm); run this task without cluster:"));
    }
  }
  std::string path_var;
  if (!FindCommand(options_.slurm.sbatch, &path_var)) {
    return absl::FailedPreconditionError(
        options_.slurm.sbatch.find('/') != std::string::npos
            ? absl::StrCat("cluster.slurm: sbatch ", options_.slurm.sbatch,
                           " is not an executable file")
            : absl::StrCat("cluster.slurm: ", options_.slurm.sbatch,
                           " not found on PATH (", path_var,
                           "); install Slurm's client commands where evald "
                           "runs"));
  }
  if (slurm.transport() == "files") return absl::OkStatus();
  if (slurm.coordinator().empty() && options_.cluster_address.empty()) {
    return absl::FailedPreconditionError(
        "cluster.slurm: transport grpc needs the address workers dial: set "
        "cluster.slurm.coordinator or start evald with --cluster-address "
        "HOST:PORT");
  }
  if (!options_.serves_tcp || options_.token_file.empty()) {
    return absl::FailedPreconditionError(
        "cluster.slurm: transport grpc needs evald to serve TCP with a token "
        "(--listen-tcp HOST:PORT --token-file FILE) for its workers");
  }
  return absl::OkStatus();
}

WorkerJob Coordinator::JobFor(const v1::RunRecord& run) const {
  const v1::SlurmSpec& slurm = run.spec().cluster().slurm();
  WorkerJob job;
  job.run_id = run.id();
  job.job_name = absl::StrCat("evald-", run.id());
  job.evald = slurm.evald().empty() ? options_.evald : slurm.evald();
  job.coordinator = slurm.coordinator().empty() ? options_.cluster_address
                                                : slurm.coordinator();
  job.token_file = options_.token_file;
  if (slurm.transport() == "files") job.shared_dir = slurm.shared_dir();
  job.log_dir = slurm.log_dir().empty()
                    ? absl::StrCat(options_.data_dir, "/cluster/", run.id())
                    : slurm.log_dir();
  return job;
}

absl::Status Coordinator::SubmitShards(v1::RunRecord& run,
                                       const std::vector<int32_t>& indices) {
  const v1::SlurmSpec& slurm = run.spec().cluster().slurm();
  if (slurm.transport() == "files") {
    // Workers that cannot reach the coordinator find their claim here
    // before their job starts.
    for (int32_t i : indices) {
      v1::ClaimShardResponse claim;
      *claim.mutable_spec() = run.spec();
      claim.set_attempt(run.attempt());
      claim.set_claim(run.shards(i).claims() + 1);
      RETURN_IF_ERROR(AddShardTasks(*store_, run, i, &claim));
      RETURN_IF_ERROR(WriteClaimFile(slurm.shared_dir(), run.id(), i, claim));
    }
  }
  ASSIGN_OR_RETURN(
      std::string array,
      slurm_.SubmitArray(run.spec().cluster().slurm(), JobFor(run), indices));
  run.add_slurm_jobs(array);
  for (int32_t i : indices) {
    v1::ShardState& shard = *run.mutable_shards(i);
    shard.set_status(v1::SHARD_PENDING);
    shard.set_slurm_job_id(absl::StrCat(array, "_", i));
    shard.set_submissions(shard.submissions() + 1);
    shard.set_slurm_state("PENDING");
  }
  LOG(INFO) << "run " << run.id() << ": submitted shards "
            << ArrayExpression(indices) << " as Slurm job " << array;
  return absl::OkStatus();
}

absl::StatusOr<v1::RunRecord> Coordinator::Submit(v1::RunRecord run) {
  v1::RunSpec& spec = *run.mutable_spec();
  const int32_t shards = spec.cluster().slurm().shards();
  // Workers read the datasets where the coordinator found them.
  for (v1::TaskSpec& t : *spec.mutable_tasks()) {
    tasks::TaskOptions options = TaskOptionsFor(spec, t, options_.data_dir);
    if (!options.task_file.empty()) continue;
    std::error_code ec;
    std::filesystem::path path =
        std::filesystem::absolute(options.data_path, ec);
    if (!ec) t.set_data_path(path.lexically_normal().string());
  }
  run.clear_progress();
  std::vector<int64_t> totals;
  for (const v1::TaskSpec& t : spec.tasks()) {
    ASSIGN_OR_RETURN(std::unique_ptr<tasks::Task> task,
                     CreateSpecTask(spec, t, options_.data_dir));
    v1::TaskProgress* p = run.add_progress();
    p->set_task(t.name());
    p->set_total(static_cast<int64_t>(task->DocIds().size()));
  }
  for (int32_t i = 0; i < shards; ++i) {
    v1::ShardState* shard = run.add_shards();
    shard->set_index(i);
    shard->set_status(v1::SHARD_PENDING);
  }
  for (int32_t i = 0; i < shards; ++i) {
    int64_t documents = 0;
    for (const TaskRange& r : ShardTasks(run, i))
      documents += r.range.end - r.range.first;
    run.mutable_shards(i)->set_documents(documents);
  }
  const int64_t now_ms = clock_->NowUnixNanos() / 1'000'000;
  // Stored RUNNING (never in the local executor's queue) with no job yet;
  // the lock keeps the poller away until the job is recorded, and a
  // coordinator killed in between submits it when it restarts.
  run.set_state(v1::RUNNING);
  run.set_created_unix_ms(now_ms);
  run.set_started_unix_ms(now_ms);
  run.set_attempt(1);
  absl::MutexLock lock(&shards_->mutex());
  ASSIGN_OR_RETURN(v1::RunRecord created, store_->CreateRun(std::move(run)));
  std::vector<int32_t> all(static_cast<size_t>(shards));
  for (int32_t i = 0; i < shards; ++i) all[static_cast<size_t>(i)] = i;
  absl::Status submitted = shards_->UpdateLocked(
      created.id(),
      [&](v1::RunRecord& stored) { return SubmitShards(stored, all); });
  if (!submitted.ok()) {
    // Nothing half-stored: the run goes again, with sbatch's line.
    if (auto deleted = store_->DeleteRun(created.id()); !deleted.ok()) {
      LOG(ERROR) << "run " << created.id() << ": " << deleted.status();
    }
    return submitted;
  }
  return store_->GetRun(created.id());
}

absl::StatusOr<v1::RunState> Coordinator::Cancel(const std::string& run_id) {
  absl::MutexLock lock(&shards_->mutex());
  absl::Status updated =
      shards_->UpdateLocked(run_id, [&](v1::RunRecord& run) -> absl::Status {
        if (IsFinalRun(run.state())) {
          return absl::FailedPreconditionError(
              absl::StrCat("run ", run_id, " already ",
                           run.state() == v1::SUCCEEDED ? "succeeded"
                           : run.state() == v1::FAILED  ? "failed"
                                                        : "was cancelled"));
        }
        for (const std::string& job : run.slurm_jobs()) {
          if (absl::Status s = slurm_.Cancel(job); !s.ok()) {
            LOG(WARNING) << "run " << run_id << ": scancel " << job << ": "
                         << s;
          }
        }
        const int64_t end_ms = clock_->NowUnixNanos() / 1'000'000;
        run.set_state(v1::CANCELLED);
        run.set_error("cancelled by request");
        run.set_finished_unix_ms(end_ms);
        run.mutable_phases()->set_total_s(
            static_cast<double>(end_ms - run.created_unix_ms()) / 1e3);
        return absl::OkStatus();
      });
  if (!updated.ok()) return updated;
  LOG(INFO) << "run " << run_id << " cancelled; its Slurm jobs scancelled";
  return v1::CANCELLED;
}

void Coordinator::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Coordinator::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Coordinator::Loop() {
  while (true) {
    PollOnce();
    absl::MutexLock lock(&mu_);
    auto stop = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stop), options_.poll_interval))
      return;
  }
}

void Coordinator::PollOnce() {
  store::RunFilter filter;
  filter.state = v1::RUNNING;
  auto runs = store_->ListRuns(filter);
  if (!runs.ok()) {
    LOG(ERROR) << "cluster: listing running runs: " << runs.status();
    return;
  }
  std::set<std::string> running;
  for (const v1::RunRecord& run : *runs) running.insert(run.id());
  for (auto it = stored_docs_.begin(); it != stored_docs_.end();) {
    it = running.count(it->first) > 0 ? std::next(it) : stored_docs_.erase(it);
  }
  for (const v1::RunRecord& run : *runs) {
    if (!IsShardedRun(run.spec())) continue;
    if (absl::Status s = PollRun(run.id()); !s.ok()) {
      LOG(ERROR) << "cluster: run " << run.id() << ": " << s;
    }
  }
}

std::string Coordinator::LogTail(const std::string& path) const {
  auto text = base::ReadFileToString(path);
  if (!text.ok()) return absl::StrCat("(no output file ", path, ")");
  std::vector<std::string> lines =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(*text), '\n');
  const size_t keep = static_cast<size_t>(std::max(1, options_.log_tail_lines));
  if (lines.size() > keep)
    lines.erase(lines.begin(), lines.end() - static_cast<ptrdiff_t>(keep));
  std::string tail = absl::StrJoin(lines, " | ");
  if (tail.size() > 4096) tail = tail.substr(tail.size() - 4096);
  return tail;
}

void Coordinator::IngestFiles(const v1::RunRecord& run) {
  const std::string& shared = run.spec().cluster().slurm().shared_dir();
  auto listed = ListShardFiles(shared, run.id());
  if (!listed.ok()) {
    LOG(ERROR) << "run " << run.id() << ": " << listed.status();
    return;
  }
  for (const WorkerFiles& files : *listed) {
    const std::string key = files.worker_path;
    if (files.has_worker && ingested_workers_.insert(key).second) {
      absl::StatusOr<v1::ClaimShardRequest> request =
          ReadWorkerFile(files.worker_path);
      if (request.ok()) request->set_run_id(run.id());
      absl::Status claimed =
          request.ok() ? shards_->Claim(*request).status() : request.status();
      if (!claimed.ok()) {
        // A worker the coordinator would have refused: its samples stay
        // out of the store.
        LOG(ERROR) << "run " << run.id() << ": " << claimed;
        refused_workers_.insert(key);
        const int32_t shard = files.shard;
        absl::Status noted =
            shards_->Update(run.id(), [&](v1::RunRecord& r) -> absl::Status {
              if (shard >= 0 && shard < r.shards_size())
                r.mutable_shards(shard)->set_last_error(
                    std::string(claimed.message()));
              return absl::OkStatus();
            });
        if (!noted.ok()) LOG(ERROR) << noted;
      }
    }
    if (!files.has_worker || refused_workers_.count(key) > 0) continue;
    if (files.has_samples) {
      int64_t& offset = samples_offsets_[files.samples_path];
      auto batches = ReadShardSamples(files.samples_path, &offset);
      if (!batches.ok()) {
        LOG(ERROR) << "run " << run.id() << ": " << batches.status();
      } else {
        for (v1::PutShardSamplesRequest& batch : *batches) {
          batch.set_run_id(run.id());
          batch.set_shard(files.shard);
          auto put = shards_->Put(std::move(batch));
          if (!put.ok()) {
            LOG(ERROR) << "run " << run.id() << ": " << files.samples_path
                       << ": " << put.status();
          }
        }
      }
    }
    // The finish file's presence means the samples file was complete when
    // it was listed, and it has been read through since.
    if (files.has_finish && ingested_finishes_.insert(key).second) {
      auto finish = ReadFinishFile(files.finish_path);
      if (finish.ok()) {
        finish->set_run_id(run.id());
        finish->set_shard(files.shard);
      }
      absl::Status finished =
          finish.ok() ? shards_->Finish(*finish) : finish.status();
      if (!finished.ok()) LOG(ERROR) << "run " << run.id() << ": " << finished;
    }
  }
}

absl::Status Coordinator::PollRun(const std::string& run_id) {
  ASSIGN_OR_RETURN(v1::RunRecord seen, store_->GetRun(run_id));
  if (seen.state() != v1::RUNNING || !IsShardedRun(seen.spec()))
    return absl::OkStatus();
  // Slurm first, then what the workers delivered, then the store: a job
  // seen finished has delivered everything it ever will by the time its
  // samples are counted. (Only this thread submits, so the shards' jobs do
  // not change in between.)
  std::map<std::string, std::vector<SlurmTask>> arrays;
  for (const v1::ShardState& shard : seen.shards()) {
    if (shard.status() == v1::SHARD_DONE ||
        shard.status() == v1::SHARD_FAILED || shard.slurm_job_id().empty())
      continue;
    const std::string array = ArrayOf(shard.slurm_job_id());
    if (arrays.count(array) > 0) continue;
    ASSIGN_OR_RETURN(arrays[array], slurm_.Query(array));
  }
  if (seen.spec().cluster().slurm().transport() == "files") IngestFiles(seen);
  absl::MutexLock lock(&shards_->mutex());
  return shards_->UpdateLocked(run_id, [&](v1::RunRecord& run) -> absl::Status {
    if (run.state() != v1::RUNNING || !IsShardedRun(run.spec()))
      return absl::OkStatus();
    const v1::SlurmSpec& spec = run.spec().cluster().slurm();
    // The stored documents of each task, read again only when the task's
    // progress marker moved (reading them parses every sample).
    std::map<std::string, StoredDocs>& cache = stored_docs_[run.id()];
    std::map<std::string, std::set<int64_t>> done_docs;
    for (const v1::TaskSpec& t : run.spec().tasks()) {
      int64_t marker = -1;
      for (const v1::TaskProgress& p : run.progress())
        if (p.task() == t.name()) marker = p.done();
      StoredDocs& cached = cache[t.name()];
      if (cached.marker != marker || marker < 0) {
        ASSIGN_OR_RETURN(cached.docs,
                         store_->DoneDocIndices(run.id(), t.name()));
        cached.marker = marker;
      }
      done_docs[t.name()] = cached.docs;
    }
    std::vector<int32_t> resubmit;
    for (v1::ShardState& shard : *run.mutable_shards()) {
      int64_t done = 0;
      for (const TaskRange& r : ShardTasks(run, shard.index())) {
        const std::set<int64_t>& stored = done_docs[r.task];
        done += std::distance(stored.lower_bound(r.range.first),
                              stored.lower_bound(r.range.end));
      }
      shard.set_done(done);
      if (shard.status() == v1::SHARD_FAILED) continue;
      const SlurmTask* task = nullptr;
      if (!shard.slurm_job_id().empty()) {
        for (const SlurmTask& t : arrays[ArrayOf(shard.slurm_job_id())]) {
          if (t.job_id == shard.slurm_job_id() || t.index == shard.index())
            task = &t;
        }
      }
      if (done >= shard.documents()) {
        if (task != nullptr) shard.set_slurm_state(task->state);
        if (shard.status() != v1::SHARD_DONE) {
          LOG(INFO) << "run " << run.id() << ": " << WorkerLabel(shard)
                    << " done (" << done << " documents)";
        }
        shard.set_status(v1::SHARD_DONE);
        continue;
      }
      if (shard.slurm_job_id().empty()) {  // never submitted
        resubmit.push_back(shard.index());
        continue;
      }
      if (task != nullptr && !IsFinalState(task->state)) {
        shard.set_slurm_state(task->state);
        if (!task->node.empty()) shard.set_node(task->node);
        // Requeued by Slurm (preemption, scontrol requeue): pending again,
        // and simply waited for.
        shard.set_status(task->state == "RUNNING" || task->state == "COMPLETING"
                             ? v1::SHARD_RUNNING
                             : v1::SHARD_PENDING);
        continue;
      }
      // Ended (or forgotten by Slurm) with documents missing: a failure.
      const std::string state =
          task != nullptr ? task->state : "unknown (Slurm no longer knows it)";
      const std::string node =
          task != nullptr && !task->node.empty() ? task->node : shard.node();
      const std::string out = task != nullptr && !task->std_out.empty()
                                  ? task->std_out
                                  : absl::StrCat(JobFor(run).log_dir, "/slurm-",
                                                 ArrayOf(shard.slurm_job_id()),
                                                 "_", shard.index(), ".out");
      shard.set_slurm_state(state);
      if (!node.empty()) shard.set_node(node);
      shard.set_failures(shard.failures() + 1);
      const std::string error =
          absl::StrCat("shard ", shard.index(), ": Slurm state ", state, " on ",
                       node.empty() ? "no node" : node, " (job ",
                       shard.slurm_job_id(), "); last lines: ", LogTail(out));
      shard.set_last_error(error);
      LOG(WARNING) << "run " << run.id() << ": " << error << " (failure "
                   << shard.failures() << " of at most " << spec.max_failures()
                   << ")";
      if (shard.failures() > spec.max_failures()) {
        shard.set_status(v1::SHARD_FAILED);
        for (const std::string& job : run.slurm_jobs()) {
          if (absl::Status s = slurm_.Cancel(job); !s.ok())
            LOG(WARNING) << "scancel " << job << ": " << s;
        }
        const int64_t end_ms = clock_->NowUnixNanos() / 1'000'000;
        run.set_state(v1::FAILED);
        run.set_error(error);
        run.set_finished_unix_ms(end_ms);
        run.mutable_phases()->set_total_s(
            static_cast<double>(end_ms - run.created_unix_ms()) / 1e3);
        LOG(ERROR) << "run " << run.id() << " FAILED: " << error;
        return absl::OkStatus();
      }
      resubmit.push_back(shard.index());
    }
    if (!resubmit.empty()) {
      if (absl::Status s = SubmitShards(run, resubmit); !s.ok()) {
        // Tried again at the next poll.
        LOG(ERROR) << "run " << run.id() << ": resubmitting shards "
                   << ArrayExpression(resubmit) << ": " << s;
      }
    }
    bool all_done = true;
    for (const v1::ShardState& shard : run.shards())
      all_done = all_done && shard.status() == v1::SHARD_DONE;
    if (all_done) FinishRun(run);
    return absl::OkStatus();
  });
}

void Coordinator::FinishRun(v1::RunRecord& run) {
  const int64_t t0 = clock_->MonotonicNanos();
  absl::Status aggregated = absl::OkStatus();
  for (const v1::TaskSpec& t : run.spec().tasks()) {
    auto task = CreateSpecTask(run.spec(), t, options_.data_dir);
    if (!task.ok()) {
      aggregated = task.status();
      break;
    }
    int64_t total = 0;
    for (const v1::TaskProgress& p : run.progress())
      if (p.task() == t.name()) total = p.total();
    aggregated =
        AggregateStoredTask(*store_, run.id(), t.name(), **task, total);
    if (!aggregated.ok()) break;
  }
  const int64_t end_ms = clock_->NowUnixNanos() / 1'000'000;
  run.mutable_phases()->set_scoring_s(
      run.phases().scoring_s() +
      static_cast<double>(clock_->MonotonicNanos() - t0) / 1e9);
  run.mutable_phases()->set_total_s(
      static_cast<double>(end_ms - run.created_unix_ms()) / 1e3);
  run.set_finished_unix_ms(end_ms);
  if (aggregated.ok()) {
    run.set_state(v1::SUCCEEDED);
    LOG(INFO) << "run " << run.id() << " SUCCEEDED (" << run.shards_size()
              << " shards)";
  } else {
    run.set_state(v1::FAILED);
    run.set_error(std::string(aggregated.message()));
    LOG(ERROR) << "run " << run.id() << " FAILED: " << aggregated;
  }
}

}  // namespace evald::daemon::cluster
