// File: daemon/cluster/worker.cc
#include "daemon/cluster/worker.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <deque>
#include <iostream>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "base/status_macros.h"
#include "daemon/cluster/shard_files.h"
#include "daemon/fingerprint.h"
#include "daemon/run_validation.h"
#include "daemon/status_convert.h"
#include "daemon/suite.h"
#include "daemon/task_records.h"
#include "proto/service.grpc.pb.h"
#include "tasks/task.h"

namespace evald::daemon::cluster {
namespace {

constexpr int kLogTailLines = 20;

absl::Mutex g_log_mu;
std::deque<std::string>* LogLines() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_log_mu) {
  static auto* lines = new std::deque<std::string>();
  return lines;
}

// ---- gRPC ------------------------------------------------------------------

class GrpcTransport : public ShardTransport {
 public:
  GrpcTransport(std::string address, std::string token, std::string run_id,
                absl::Duration retry_for, absl::Duration retry_after_stop,
                const std::atomic<bool>* stop)
      : address_(std::move(address)),
        token_(std::move(token)),
        run_id_(std::move(run_id)),
        retry_for_(retry_for),
        retry_after_stop_(retry_after_stop),
        stop_(stop) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(64 << 20);
    stub_ = v1::EvalService::NewStub(grpc::CreateCustomChannel(
        address_, grpc::InsecureChannelCredentials(), args));
  }

  std::string Describe() const override {
    return absl::StrCat("coordinator ", address_);
  }

  absl::StatusOr<v1::RunSpec> GetSpec() override {
    v1::GetRunRequest request;
    request.set_run_id(run_id_);
    v1::RunRecord run;
    RETURN_IF_ERROR(Call("GetRun", [&](grpc::ClientContext* context) {
      return stub_->GetRun(context, request, &run);
    }));
    return run.spec();
  }

  absl::StatusOr<v1::ClaimShardResponse> Claim(
      const v1::ClaimShardRequest& request) override {
    v1::ClaimShardResponse response;
    RETURN_IF_ERROR(Call("ClaimShard", [&](grpc::ClientContext* context) {
      return stub_->ClaimShard(context, request, &response);
    }));
    return response;
  }

  absl::StatusOr<bool> Put(const v1::PutShardSamplesRequest& batch) override {
    v1::PutShardSamplesResponse response;
    RETURN_IF_ERROR(Call("PutShardSamples", [&](grpc::ClientContext* context) {
      return stub_->PutShardSamples(context, batch, &response);
    }));
    return response.stop();
  }

  absl::Status Finish(const v1::FinishShardRequest& request) override {
    v1::FinishShardResponse response;
    return Call("FinishShard", [&](grpc::ClientContext* context) {
      return stub_->FinishShard(context, request, &response);
    });
  }

  absl::StatusOr<std::map<std::string, std::string>> BaselineResponses(
      const std::string& run_id, const std::string& task) override {
    v1::ListSamplesRequest request;
    request.set_run_id(run_id);
    request.set_task(task);
    std::map<std::string, std::string> responses;
    grpc::ClientContext context;
    Prepare(&context);
    std::unique_ptr<grpc::ClientReader<v1::SampleChunk>> reader =
        stub_->StreamSamples(&context, request);
    v1::SampleChunk chunk;
    while (reader->Read(&chunk)) {
      for (const v1::SampleRecord& s : chunk.samples()) {
        if (s.error().empty() && s.responses_size() > 0)
          responses[s.doc_id()] = s.responses(0);
      }
    }
    RETURN_IF_ERROR(Convert("StreamSamples", reader->Finish()));
    if (responses.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("task '", task, "': baseline run ", run_id,
                       " has no answers of task '", task, "'"));
    }
    return responses;
  }

 private:
  void Prepare(grpc::ClientContext* context) const {
    if (!token_.empty())
      context->AddMetadata("authorization", "Bearer " + token_);
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(60));
  }

  absl::Status Convert(const char* what, const grpc::Status& status) const {
    if (status.ok()) return absl::OkStatus();
    const absl::Status converted = FromGrpcStatus(status);
    return absl::Status(converted.code(),
                        absl::StrCat(what, " (run ", run_id_, ") at ",
                                     Describe(), ": ", converted.message()));
  }

  // Calls `call` until it succeeds or fails with something other than the
  // coordinator being away (UNAVAILABLE, DEADLINE_EXCEEDED).
  template <typename F>
  absl::Status Call(const char* what, const F& call) {
    const absl::Time start = absl::Now();
    absl::Time stop_seen = absl::InfiniteFuture();
    absl::Duration backoff = absl::Milliseconds(200);
    while (true) {
      grpc::ClientContext context;
      Prepare(&context);
      const grpc::Status status = call(&context);
      const bool away =
          status.error_code() == grpc::StatusCode::UNAVAILABLE ||
          status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
      if (status.ok() || !away) return Convert(what, status);
      const absl::Time now = absl::Now();
      if (stop_ != nullptr && stop_->load() &&
          stop_seen == absl::InfiniteFuture())
        stop_seen = now;
      if (now - start >= retry_for_ || now - stop_seen >= retry_after_stop_) {
        return Convert(what, status);
      }
      WorkerLog(absl::StrCat(what, ": ", Describe(), " unavailable (",
                             status.error_message(), "); retrying in ",
                             absl::FormatDuration(backoff)));
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
  }

  const std::string address_;
  const std::string token_;
  const std::string run_id_;
  const absl::Duration retry_for_;
  const absl::Duration retry_after_stop_;
  const std::atomic<bool>* stop_;
  std::unique_ptr<v1::EvalService::Stub> stub_;
};

// ---- Files -----------------------------------------------------------------

class FilesTransport : public ShardTransport {
 public:
  FilesTransport(std::string shared_dir, std::string run_id, int32_t shard,
                 const std::string& worker_id)
      : shared_dir_(std::move(shared_dir)),
        run_id_(std::move(run_id)),
        shard_(shard),
        files_(WorkerFilesFor(shared_dir_, run_id_, shard_, worker_id)) {}

  std::string Describe() const override {
    return absl::StrCat("shared dir ", shared_dir_);
  }

  absl::StatusOr<v1::RunSpec> GetSpec() override {
    ASSIGN_OR_RETURN(claim_, ReadClaimFile(shared_dir_, run_id_, shard_));
    return claim_.spec();
  }

  absl::StatusOr<v1::ClaimShardResponse> Claim(
      const v1::ClaimShardRequest& request) override {
    RETURN_IF_ERROR(WriteWorkerFile(files_.worker_path, request));
    ASSIGN_OR_RETURN(ShardSamplesWriter writer,
                     ShardSamplesWriter::Open(files_.samples_path));
    writer_ = std::make_unique<ShardSamplesWriter>(std::move(writer));
    return claim_;
  }

  absl::StatusOr<bool> Put(const v1::PutShardSamplesRequest& batch) override {
    if (writer_ == nullptr)
      return absl::FailedPreconditionError("samples before the claim");
    RETURN_IF_ERROR(writer_->Append(batch));
    return false;
  }

  absl::Status Finish(const v1::FinishShardRequest& request) override {
    return WriteFinishFile(files_.finish_path, request);
  }

  absl::StatusOr<std::map<std::string, std::string>> BaselineResponses(
      const std::string& run_id, const std::string& task) override {
    return absl::UnimplementedError(absl::StrCat(
        "task '", task, "' compares with baseline run ", run_id,
        ", whose answers only the coordinator has; run it with the grpc "
        "transport"));
  }

 private:
  const std::string shared_dir_;
  const std::string run_id_;
  const int32_t shard_;
  const WorkerFiles files_;
  v1::ClaimShardResponse claim_;
  std::unique_ptr<ShardSamplesWriter> writer_;
};

// ---- Batching --------------------------------------------------------------

// Hands finished samples to the transport from its own thread, so the engine
// never waits on the coordinator: a batch goes when `flush_samples` are
// waiting or the oldest has waited `flush_interval`, and at Close. A batch
// the transport could not take (after its retries) stays undelivered and
// ends the shard with that error; `stop` is set so the tasks stop too.
class Sender {
 public:
  Sender(ShardTransport* transport, const v1::ClaimShardRequest& claim_request,
         int32_t claim, int flush_samples, absl::Duration flush_interval,
         std::atomic<bool>* stop)
      : transport_(transport),
        flush_samples_(static_cast<size_t>(std::max(1, flush_samples))),
        flush_interval_(flush_interval),
        stop_(stop) {
    base_.set_run_id(claim_request.run_id());
    base_.set_shard(claim_request.shard());
    base_.set_claim(claim);
    thread_ = std::thread([this] { Loop(); });
  }
  ~Sender() { Close().IgnoreError(); }

  void Add(v1::SampleRecord sample) {
    absl::MutexLock lock(&mu_);
    if (pending_.empty()) oldest_ = absl::Now();
    pending_.push_back(std::move(sample));
  }

  // Sends what is left and joins the thread. The first delivery error, if
  // any.
  absl::Status Close() {
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
    }
    if (thread_.joinable()) thread_.join();
    absl::MutexLock lock(&mu_);
    return status_;
  }

  int64_t delivered() const {
    absl::MutexLock lock(&mu_);
    return delivered_;
  }
  bool stop_requested() const { return stop_requested_.load(); }

 private:
  void Loop() {
    while (true) {
      v1::PutShardSamplesRequest batch = base_;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return closing_ || pending_.size() >= flush_samples_;
        };
        while (!ready()) {
          const absl::Time deadline = pending_.empty()
                                          ? absl::Now() + flush_interval_
                                          : oldest_ + flush_interval_;
          if (mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) break;
          if (!pending_.empty() && absl::Now() >= oldest_ + flush_interval_)
            break;
        }
        if (pending_.empty()) {
          if (closing_) return;
          continue;
        }
        if (!status_.ok()) {
          // Nothing more gets through; what is pending stays undelivered.
          if (closing_) return;
          pending_.clear();
          continue;
        }
        // Never more than flush_samples per batch, whatever piled up while
        // the coordinator was away: batches stay small messages.
        const size_t n = std::min(pending_.size(), flush_samples_);
        for (size_t i = 0; i < n; ++i)
          *batch.add_samples() = std::move(pending_[i]);
        // What is left is older still: oldest_ stays, so it goes next.
        pending_.erase(pending_.begin(),
                       pending_.begin() + static_cast<std::ptrdiff_t>(n));
      }
      absl::StatusOr<bool> put = transport_->Put(batch);
      absl::MutexLock lock(&mu_);
      if (!put.ok()) {
        status_ = put.status();
        stop_->store(true);
        continue;
      }
      delivered_ += batch.samples_size();
      if (*put) {
        stop_requested_.store(true);
        stop_->store(true);
      }
    }
  }

  ShardTransport* const transport_;
  const size_t flush_samples_;
  const absl::Duration flush_interval_;
  std::atomic<bool>* const stop_;
  v1::PutShardSamplesRequest base_;
  std::atomic<bool> stop_requested_{false};

  mutable absl::Mutex mu_;
  std::deque<v1::SampleRecord> pending_ ABSL_GUARDED_BY(mu_);
  absl::Time oldest_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  int64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// The worker's fingerprint: host facts, models and the tasks' datasets as
// this node sees them. The pins are the coordinator's to check (it names
// the shard and node), so they are left out here; what cannot be
// fingerprinted is logged and left out too, for the coordinator to see as a
// difference.
v1::Fingerprint FingerprintInputs(const v1::RunSpec& spec,
                                  const std::string& datasets_root,
                                  const v1::Fingerprint& host) {
  v1::RunSpec unpinned = spec;
  unpinned.clear_pin();
  absl::StatusOr<PreparedRun> prepared =
      PrepareRun(unpinned, datasets_root, host, nullptr);
  if (prepared.ok()) return std::move(prepared->fingerprint);
  WorkerLog(absl::StrCat(
      "fingerprinting the run's inputs: ", prepared.status().message(),
      " (claiming with what could be fingerprinted)"));
  v1::Fingerprint fingerprint = host;
  for (const auto& [role, model] :
       {std::make_pair("candidate", &spec.candidate()),
        std::make_pair("judge", &spec.judge())}) {
    if (std::string(role) == "judge" && !spec.has_judge()) continue;
    auto fp = FingerprintModel(role, *model, nullptr);
    if (fp.ok()) *fingerprint.add_models() = std::move(*fp);
  }
  return fingerprint;
}

std::string ModelName(const v1::ModelSpec& model) {
  return model.source_case() == v1::ModelSpec::kEndpoint
             ? absl::StrCat(model.model(), " at ", model.endpoint())
             : model.path();
}

}  // namespace

void WorkerLog(const std::string& line) {
  {
    absl::MutexLock lock(&g_log_mu);
    std::deque<std::string>* lines = LogLines();
    lines->push_back(line);
    while (lines->size() > kLogTailLines) lines->pop_front();
  }
  // One write per line, so lines of threads never interleave.
  const std::string out = absl::StrCat("worker: ", line, "\n");
  std::cerr.write(out.data(), static_cast<std::streamsize>(out.size()));
  std::cerr.flush();
}

std::string WorkerLogTail() {
  absl::MutexLock lock(&g_log_mu);
  return absl::StrJoin(*LogLines(), "\n");
}

std::string WorkerLabel(const WorkerOptions& options) {
  std::string label =
      absl::StrCat("shard ", options.shard, " on ", options.node);
  if (!options.slurm_job_id.empty())
    absl::StrAppend(&label, " (job ", options.slurm_job_id, ")");
  return label;
}

std::unique_ptr<ShardTransport> MakeGrpcTransport(
    const std::string& address, const std::string& token,
    const std::string& run_id, absl::Duration retry_for,
    absl::Duration retry_after_stop, const std::atomic<bool>* stop) {
  return std::make_unique<GrpcTransport>(address, token, run_id, retry_for,
                                         retry_after_stop, stop);
}

std::unique_ptr<ShardTransport> MakeFilesTransport(
    const std::string& shared_dir, const std::string& run_id, int32_t shard,
    const std::string& worker_id) {
  return std::make_unique<FilesTransport>(shared_dir, run_id, shard, worker_id);
}

absl::Status RunShard(const WorkerOptions& options, ShardTransport& transport,
                      ModelCache& models, const v1::Fingerprint& host) {
  std::atomic<bool> own_stop{false};
  std::atomic<bool>* stop = options.stop != nullptr ? options.stop : &own_stop;
  const std::string who =
      absl::StrCat("run ", options.run_id, " shard ", options.shard,
                   options.slurm_job_id.empty()
                       ? ""
                       : absl::StrCat(" (job ", options.slurm_job_id, ")"),
                   " on ", options.node);
  const absl::Time started = absl::Now();

  ASSIGN_OR_RETURN(v1::RunSpec spec_before_claim, transport.GetSpec());
  v1::ClaimShardRequest request;
  request.set_run_id(options.run_id);
  request.set_shard(options.shard);
  request.set_node(options.node);
  request.set_slurm_job_id(options.slurm_job_id);
  *request.mutable_fingerprint() =
      FingerprintInputs(spec_before_claim, options.datasets_root, host);
  ASSIGN_OR_RETURN(v1::ClaimShardResponse claim, transport.Claim(request));
  for (const v1::Drift& d : claim.drift()) {
    WorkerLog(absl::StrCat(who,
                           ": differs from the run's fingerprint "
                           "(allowed, recorded): ",
                           d.field(), ": expected ", d.expected(), ", found ",
                           d.found()));
  }
  int64_t todo_total = 0;
  for (const v1::ShardTask& t : claim.tasks()) todo_total += t.todo_size();
  WorkerLog(absl::StrCat(who, ": claimed (claim ", claim.claim(), ", attempt ",
                         claim.attempt(), "), ", todo_total,
                         " documents to compute over ", claim.tasks_size(),
                         " task(s)"));

  v1::FinishShardRequest finish;
  finish.set_run_id(options.run_id);
  finish.set_shard(options.shard);
  finish.set_claim(claim.claim());
  Sender sender(&transport, request, claim.claim(), options.flush_samples,
                options.flush_interval, stop);

  // Everything after the claim: its error goes into the finish.
  auto compute = [&]() -> absl::Status {
    if (todo_total == 0) return absl::OkStatus();
    const v1::RunSpec& spec = claim.spec();
    auto lease = models.Get(spec.candidate());
    if (!lease.ok()) {
      return absl::Status(
          lease.status().code(),
          absl::StrCat("loading candidate model ", ModelName(spec.candidate()),
                       ": ", lease.status().message()));
    }
    double load_s = lease->load_seconds;
    absl::StatusOr<ModelCache::Lease> judge_lease =
        absl::NotFoundError("no judge");
    if (spec.has_judge()) {
      judge_lease = models.Get(spec.judge());
      if (!judge_lease.ok()) {
        return absl::Status(
            judge_lease.status().code(),
            absl::StrCat("loading judge model ", ModelName(spec.judge()), ": ",
                         judge_lease.status().message()));
      }
      load_s += judge_lease->load_seconds;
    }
    runners::Runner& runner = *lease->runner;
    runners::Runner* judge =
        judge_lease.ok() ? judge_lease->runner.get() : nullptr;
    const runners::RunnerStats before = runner.stats();
    tasks::JudgeProgress judge_progress;
    auto record_figures = [&] {
      const runners::RunnerStats now = runner.stats();
      v1::EngineStats* st = finish.mutable_stats();
      st->set_prompt_tokens(now.prompt_tokens - before.prompt_tokens);
      st->set_cached_prompt_tokens(now.cached_prompt_tokens -
                                   before.cached_prompt_tokens);
      st->set_generated_tokens(now.generated_tokens - before.generated_tokens);
      st->set_busy_s(now.busy_seconds - before.busy_seconds);
      v1::PhaseTimes* ph = finish.mutable_phases();
      ph->set_model_load_s(load_s);
      ph->set_prefill_s(now.prefill_seconds - before.prefill_seconds);
      ph->set_decode_s(now.decode_seconds - before.decode_seconds);
      ph->set_judge_s(static_cast<double>(judge_progress.busy_us.load()) / 1e6);
      ph->set_judge_overlap_s(
          static_cast<double>(judge_progress.overlap_us.load()) / 1e6);
    };

    // Create every task first: a bad dataset fails before any work.
    std::vector<std::unique_ptr<tasks::Task>> task_objects;
    for (const v1::ShardTask& st : claim.tasks()) {
      const v1::TaskSpec* task_spec = nullptr;
      for (const v1::TaskSpec& t : spec.tasks()) {
        if (t.name() == st.task()) task_spec = &t;
      }
      if (task_spec == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("the claim names task '", st.task(),
                         "', which the run's spec "
                         "does not have"));
      }
      auto task = CreateSpecTask(spec, *task_spec, options.data_dir);
      if (!task.ok()) return task.status();
      const int64_t docs = static_cast<int64_t>((*task)->DocIds().size());
      if (st.end_doc() > docs) {
        return absl::FailedPreconditionError(absl::StrCat(
            "task '", st.task(), "': the shard is documents [", st.first_doc(),
            ", ", st.end_doc(), ") but this node's dataset has ", docs,
            " (is it the coordinator's?)"));
      }
      for (int64_t d : st.todo()) {
        if (d < st.first_doc() || d >= st.end_doc()) {
          return absl::InvalidArgumentError(
              absl::StrCat("task '", st.task(), "': document ", d,
                           " to compute is outside the shard's range [",
                           st.first_doc(), ", ", st.end_doc(), ")"));
        }
      }
      task_objects.push_back(*std::move(task));
    }

    for (int i = 0; i < claim.tasks_size(); ++i) {
      const v1::ShardTask& st = claim.tasks(i);
      tasks::Task& task = *task_objects[static_cast<size_t>(i)];
      if (st.todo_size() == 0) continue;
      tasks::RunContext context;
      context.cancelled = stop;
      context.judge = judge;
      context.judge_progress = &judge_progress;
      std::map<std::string, std::string> baseline;
      if (task.info().needs_baseline) {
        const v1::TaskSpec* task_spec = nullptr;
        for (const v1::TaskSpec& t : spec.tasks()) {
          if (t.name() == st.task()) task_spec = &t;
        }
        auto it = task_spec->options().find("baseline");
        if (it != task_spec->options().end()) {
          ASSIGN_OR_RETURN(baseline,
                           transport.BaselineResponses(it->second, st.task()));
          context.baseline_run = it->second;
          context.baseline_responses = &baseline;
        }
      }
      const std::vector<size_t> todo(st.todo().begin(), st.todo().end());
      std::set<size_t> asked(todo.begin(), todo.end());
      const int64_t total = st.todo_size();
      int64_t done = 0;
      absl::Time last_log = absl::Now();
      if (stop->load()) break;
      WorkerLog(absl::StrCat(who, ": ", st.task(), " 0/", total));
      absl::Status status = task.Run(
          runner, todo, context,
          [&](tasks::SampleResult result) -> absl::Status {
            if (asked.erase(result.doc_index) == 0) {
              return absl::InternalError(absl::StrCat(
                  "task '", st.task(), "' returned document ", result.doc_index,
                  " (", result.doc_id, "), which it was not asked for"));
            }
            const SampleOrigin origin{
                .run_id = options.run_id,
                .attempt = claim.attempt(),
                .task = st.task(),
                .finished_unix_ms = absl::ToUnixMillis(absl::Now())};
            v1::SampleRecord record = ToSampleRecord(origin, std::move(result));
            record.set_worker(WorkerLabel(options));
            sender.Add(std::move(record));
            ++done;
            if (done == total || absl::Now() - last_log > absl::Seconds(5)) {
              last_log = absl::Now();
              WorkerLog(
                  absl::StrCat(who, ": ", st.task(), " ", done, "/", total));
            }
            return absl::OkStatus();
          });
      record_figures();
      if (stop->load()) break;
      if (!status.ok()) {
        return absl::Status(
            status.code(),
            absl::StrCat("task '", st.task(), "': ", status.message()));
      }
    }
    record_figures();
    return absl::OkStatus();
  };

  absl::Status result = compute();
  absl::Status delivered = sender.Close();
  if (result.ok() && !delivered.ok()) result = delivered;
  if (result.ok() && sender.stop_requested() &&
      sender.delivered() < todo_total) {
    result = absl::CancelledError(
        "the coordinator asked the worker to stop (the run was cancelled or "
        "failed)");
  }
  if (result.ok() && stop->load() && sender.delivered() < todo_total) {
    result = absl::CancelledError(
        "stopped by a signal (SIGTERM: scancel, "
        "preemption or the time limit)");
  }
  if (result.ok() && sender.delivered() != todo_total) {
    result = absl::InternalError(absl::StrCat(
        sender.delivered(), " of ", todo_total, " documents were delivered"));
  }
  finish.mutable_phases()->set_total_s(
      absl::ToDoubleSeconds(absl::Now() - started));
  if (result.ok()) {
    WorkerLog(absl::StrCat(who, ": done, ", sender.delivered(),
                           " samples delivered to ", transport.Describe()));
  } else {
    WorkerLog(absl::StrCat(who, ": failed after delivering ",
                           sender.delivered(), " of ", todo_total,
                           " samples: ", result.message()));
  }
  finish.set_error(result.ok() ? "" : std::string(result.message()));
  finish.set_log_tail(WorkerLogTail());
  absl::Status finished = transport.Finish(finish);
  if (!finished.ok()) {
    WorkerLog(absl::StrCat(who, ": reporting the end: ", finished.message()));
    if (result.ok()) result = finished;
  }
  return result;
}

}  // namespace evald::daemon::cluster
