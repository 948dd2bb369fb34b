#include "daemon/service.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "daemon/fingerprint.h"
#include "daemon/queries.h"
#include "daemon/status_convert.h"
#include "daemon/suite.h"

namespace evald::daemon {
namespace {

bool IsFinal(v1::RunState s) {
  return s == v1::SUCCEEDED || s == v1::FAILED || s == v1::CANCELLED;
}

// Compares without an early exit, so timing does not reveal the token.
bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

const char* FinishReasonName(runners::FinishReason r) {
  switch (r) {
    case runners::FinishReason::kStop:
      return "stop";
    case runners::FinishReason::kLength:
      return "length";
    case runners::FinishReason::kEos:
      return "eos";
    case runners::FinishReason::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

// What a direct generate call may ask for; evalctl checks the same.
absl::Status ValidateGenerateCall(const v1::GenerateCallRequest& r) {
  if (!std::isfinite(r.temperature()) || r.temperature() < 0) {
    return absl::InvalidArgumentError(
        "generate: temperature must be a finite number >= 0");
  }
  if (!std::isfinite(r.top_p()) || r.top_p() < 0 || r.top_p() > 1) {
    return absl::InvalidArgumentError(
        "generate: top_p must be in (0, 1] (0: the default, 1)");
  }
  if (r.max_new_tokens() < 0 || r.top_k() < 0) {
    return absl::InvalidArgumentError(
        "generate: max_new_tokens and top_k must be >= 0");
  }
  return absl::OkStatus();
}

v1::ModelSpec LocalModel(const std::string& path) {
  v1::ModelSpec m;
  m.set_path(path);
  m.set_dtype("auto");
  return m;
}

}  // namespace

EvalServiceImpl::EvalServiceImpl(ServiceOptions options, store::Store* store,
                                 Executor* executor, ModelCache* models,
                                 v1::Fingerprint host, const base::Clock* clock,
                                 cluster::Coordinator* coordinator,
                                 cluster::ShardService* shards)
    : options_(std::move(options)),
      store_(store),
      executor_(executor),
      models_(models),
      host_(std::move(host)),
      clock_(clock),
      coordinator_(coordinator),
      shards_(shards),
      hash_cache_(store) {}

grpc::Status EvalServiceImpl::CheckAuth(
    const grpc::ServerContext* context) const {
  if (options_.token.empty()) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return grpc::Status(
        grpc::StatusCode::UNAUTHENTICATED,
        "missing bearer token (metadata 'authorization: Bearer <token>')");
  }
  const std::string got(it->second.data(), it->second.size());
  if (!ConstantTimeEquals(got, "Bearer " + options_.token)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "wrong bearer token");
  }
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::Submit(grpc::ServerContext* context,
                                     const v1::SubmitRequest* request,
                                     v1::SubmitResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  v1::RunSpec spec = request->spec();
  if (spec.name().empty()) {
    return ToGrpcStatus(
        absl::InvalidArgumentError("submit: the spec has no name"));
  }
  if (absl::Status bounds = ValidateSpecBounds(spec); !bounds.ok()) {
    return ToGrpcStatus(bounds);
  }
  const bool sharded = cluster::IsShardedRun(spec);
  cluster::Coordinator* const coordinator = coordinator_.load();
  if (sharded) {
    // Checked before anything else is read or stored.
    if (coordinator == nullptr) {
      return ToGrpcStatus(absl::FailedPreconditionError(
          "cluster.slurm: this evald does not coordinate sharded runs"));
    }
    if (absl::Status ok = coordinator->CheckSubmit(spec); !ok.ok())
      return ToGrpcStatus(ok);
  }
  if (absl::Status resolved = ResolveBaselines(&spec, store_); !resolved.ok()) {
    return ToGrpcStatus(resolved);
  }
  auto prepared = PrepareRun(spec, options_.data_dir, host_, &hash_cache_);
  if (!prepared.ok()) return ToGrpcStatus(prepared.status());
  // The checkpoints and the memory plan, once the suite is known to be
  // valid. A checkpoint that cannot load is refused now, with the error
  // `evalctl plan` gives, not when the run reaches the front of the queue.
  // A sharded run's models load on the compute nodes, not here.
  if (options_.plan.budget_bytes <= 0 || sharded) {
    if (absl::Status checked = CheckModels(spec); !checked.ok())
      return ToGrpcStatus(checked);
  } else {
    auto plan = PlanModels(spec, options_.plan);
    if (!plan.ok()) return ToGrpcStatus(plan.status());
    if (!plan->fits) {
      return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
          "submit: the suite's models do not fit in memory: needed ",
          FormatBytes(plan->needed_bytes),
          " (weights + workspaces + minimum KV pools) vs ",
          FormatBytes(plan->budget_bytes), " available; see `evalctl plan`")));
    }
  }
  v1::RunRecord run;
  *run.mutable_spec() = spec;
  run.set_state(v1::QUEUED);
  *run.mutable_fingerprint() = std::move(prepared->fingerprint);
  for (v1::Drift& d : prepared->drift) *run.add_drift() = d;
  run.set_drifted(!prepared->drift.empty());
  if (sharded) {
    auto created = coordinator->Submit(std::move(run));
    if (!created.ok()) return ToGrpcStatus(created.status());
    response->set_run_id(created->id());
    *response->mutable_drift() = created->drift();
    LOG(INFO) << "submitted run " << created->id() << " (" << spec.name()
              << ") as " << spec.cluster().slurm().shards()
              << " shards on Slurm (job " << created->slurm_jobs(0) << ")";
    return grpc::Status::OK;
  }
  auto created = store_->CreateRun(std::move(run));
  if (!created.ok()) return ToGrpcStatus(created.status());
  executor_->Wake();
  response->set_run_id(created->id());
  *response->mutable_drift() = created->drift();
  auto queue = store_->ListQueue();
  if (queue.ok()) {
    int position = 0;
    for (const v1::QueueEntry& e : *queue) {
      if (e.run_id() == created->id()) break;
      ++position;
    }
    response->set_queue_position(position);
  }
  LOG(INFO) << "submitted run " << created->id() << " (" << spec.name() << ")"
            << (created->drifted() ? " [drifted]" : "");
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::Watch(
    grpc::ServerContext* context, const v1::WatchRequest* request,
    grpc::ServerWriter<v1::WatchEvent>* writer) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  uint64_t seen = executor_->WaitForChange(~uint64_t{0}, absl::ZeroDuration());
  while (!context->IsCancelled() && !shutting_down_.load()) {
    auto run = store_->GetRun(request->run_id());
    if (!run.ok()) return ToGrpcStatus(run.status());
    if (absl::Status s = store_->AddUnfoldedFigures(&*run); !s.ok())
      return ToGrpcStatus(s);
    v1::WatchEvent event;
    run->clear_fingerprint();
    event.set_eta_s(-1);
    if (std::optional<Executor::Live> live =
            executor_->LiveStatus(request->run_id())) {
      event.set_current_task(live->task);
      event.set_tokens_per_s(live->tokens_per_s);
      event.set_prefix_cache_hit_rate(live->prefix_cache_hit_rate);
      event.set_eta_s(live->eta_s);
      event.set_judge_queued(live->judge_queued);
      event.set_judge_graded(live->judge_graded);
    }
    const bool final_state = IsFinal(run->state());
    *event.mutable_run() = std::move(*run);
    event.set_unix_ms(clock_->NowUnixNanos() / 1'000'000);
    // A failed write means the client went away; that ends this call only.
    if (!writer->Write(event)) return grpc::Status::OK;
    if (final_state) return grpc::Status::OK;
    seen = executor_->WaitForChange(seen, absl::Milliseconds(500));
    // At most a few events a second, however fast samples finish.
    absl::SleepFor(absl::Milliseconds(100));
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "evald is shutting down");
}

grpc::Status EvalServiceImpl::GetRun(grpc::ServerContext* context,
                                     const v1::GetRunRequest* request,
                                     v1::RunRecord* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  auto run = store_->GetRun(request->run_id());
  if (!run.ok()) return ToGrpcStatus(run.status());
  if (absl::Status s = store_->AddUnfoldedFigures(&*run); !s.ok())
    return ToGrpcStatus(s);
  *response = std::move(*run);
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::ListRuns(grpc::ServerContext* context,
                                       const v1::ListRunsRequest* request,
                                       v1::ListRunsResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  auto runs = ReadRuns(*store_, *request);
  if (!runs.ok()) return ToGrpcStatus(runs.status());
  *response = std::move(*runs);
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::Cancel(grpc::ServerContext* context,
                                     const v1::CancelRequest* request,
                                     v1::CancelResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  if (cluster::Coordinator* coordinator = coordinator_.load();
      coordinator != nullptr) {
    auto run = store_->GetRun(request->run_id());
    if (run.ok() && cluster::IsShardedRun(run->spec())) {
      auto state = coordinator->Cancel(request->run_id());
      if (!state.ok()) return ToGrpcStatus(state.status());
      response->set_state(*state);
      return grpc::Status::OK;
    }
  }
  auto state = executor_->Cancel(request->run_id());
  if (!state.ok()) return ToGrpcStatus(state.status());
  response->set_state(*state);
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::GetResults(grpc::ServerContext* context,
                                         const v1::GetResultsRequest* request,
                                         v1::GetResultsResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  auto results = ReadResults(*store_, request->run_id());
  if (!results.ok()) return ToGrpcStatus(results.status());
  *response = std::move(*results);
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::ListSamples(grpc::ServerContext* context,
                                          const v1::ListSamplesRequest* request,
                                          v1::ListSamplesResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  auto samples = ReadSamples(*store_, *request);
  if (!samples.ok()) return ToGrpcStatus(samples.status());
  *response = std::move(*samples);
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::StreamSamples(
    grpc::ServerContext* context, const v1::ListSamplesRequest* request,
    grpc::ServerWriter<v1::SampleChunk>* writer) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  // Read and sent a chunk at a time: neither side holds the whole task.
  v1::SampleChunk chunk;
  size_t bytes = 0;
  bool gone = false;
  auto flush = [&] {
    gone = !writer->Write(chunk);
    chunk.Clear();
    bytes = 0;
    return !gone;
  };
  store::Unreadable unreadable;
  absl::Status read = VisitSamples(
      *store_, *request,
      [&](v1::SampleRecord s) {
        const size_t size = s.ByteSizeLong();
        if (chunk.samples_size() > 0 &&
            (chunk.samples_size() >= kSamplesPerChunk ||
             bytes + size > kChunkBytes) &&
            !flush()) {
          return false;
        }
        *chunk.add_samples() = std::move(s);
        bytes += size;
        return true;
      },
      &unreadable);
  if (gone)
    return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  if (!read.ok()) return ToGrpcStatus(read);
  for (std::string& u : unreadable) chunk.add_unreadable(std::move(u));
  if ((chunk.samples_size() > 0 || chunk.unreadable_size() > 0) && !flush()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  }
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::GetEnvironment(
    grpc::ServerContext* context, const v1::GetEnvironmentRequest* request,
    v1::GetEnvironmentResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  if (request->run_id().empty()) {
    *response->mutable_fingerprint() = host_;
    return grpc::Status::OK;
  }
  auto env = ReadEnvironment(*store_, request->run_id());
  if (!env.ok()) return ToGrpcStatus(env.status());
  *response = std::move(*env);
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::PutTag(grpc::ServerContext* context,
                                     const v1::PutTagRequest* request,
                                     v1::PutTagResponse*) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  if (absl::Status valid = ValidateTagName(request->name()); !valid.ok()) {
    return ToGrpcStatus(valid);
  }
  auto run = store_->GetRun(request->run_id());
  if (!run.ok()) return ToGrpcStatus(run.status());
  return ToGrpcStatus(store_->PutTag(request->name(), request->run_id()));
}

grpc::Status EvalServiceImpl::ListTags(grpc::ServerContext* context,
                                       const v1::ListTagsRequest*,
                                       v1::ListTagsResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  auto tags = store_->ListTags();
  if (!tags.ok()) return ToGrpcStatus(tags.status());
  for (const auto& [name, run] : *tags) (*response->mutable_tags())[name] = run;
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::Generate(grpc::ServerContext* context,
                                       const v1::GenerateCallRequest* request,
                                       v1::GenerateCallResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  if (request->model_path().empty()) {
    return ToGrpcStatus(
        absl::InvalidArgumentError("generate: --model is required"));
  }
  if (absl::Status valid = ValidateGenerateCall(*request); !valid.ok()) {
    return ToGrpcStatus(valid);
  }
  auto lease = models_->Get(LocalModel(request->model_path()));
  if (!lease.ok()) return ToGrpcStatus(lease.status());
  runners::GenerateRequest gen;
  gen.prompt = request->prompt();
  if (request->chat()) {
    std::vector<runners::ChatMessage> messages = {
        {.role = "user", .content = request->prompt()}};
    auto rendered = lease->runner->ApplyChatTemplate(
        messages, /*add_generation_prompt=*/true);
    if (!rendered.ok()) return ToGrpcStatus(rendered.status());
    gen.prompt = std::move(*rendered);
  }
  gen.stop.assign(request->stop().begin(), request->stop().end());
  gen.max_new_tokens =
      request->max_new_tokens() > 0 ? request->max_new_tokens() : 256;
  gen.sampling.temperature = request->temperature();
  gen.sampling.top_p = request->top_p() > 0 ? request->top_p() : 1.0;
  gen.sampling.top_k = request->top_k();
  gen.sampling.seed = request->seed();
  absl::StatusOr<runners::GenerateResult> result =
      absl::InternalError("generate: no result");
  const int64_t t0 = clock_->MonotonicNanos();
  absl::Status call = lease->runner->Generate(
      absl::MakeConstSpan(&gen, 1), runners::CallOptions{},
      [&](size_t, absl::StatusOr<runners::GenerateResult> r) {
        result = std::move(r);
      });
  if (!call.ok()) return ToGrpcStatus(call);
  if (!result.ok()) return ToGrpcStatus(result.status());
  response->set_text(result->text);
  for (int32_t id : result->token_ids) response->add_token_ids(id);
  response->set_finish_reason(FinishReasonName(result->finish_reason));
  response->set_prompt_tokens(result->prompt_tokens);
  response->set_cached_tokens(result->cached_tokens);
  response->set_wall_s(static_cast<double>(clock_->MonotonicNanos() - t0) /
                       1e9);
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::Loglikelihood(
    grpc::ServerContext* context, const v1::LoglikelihoodCallRequest* request,
    v1::LoglikelihoodCallResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  if (request->model_path().empty()) {
    return ToGrpcStatus(
        absl::InvalidArgumentError("loglikelihood: --model is required"));
  }
  auto lease = models_->Get(LocalModel(request->model_path()));
  if (!lease.ok()) return ToGrpcStatus(lease.status());
  runners::LoglikelihoodRequest req{.context = request->context(),
                                    .continuation = request->continuation()};
  absl::StatusOr<runners::LoglikelihoodResult> result =
      absl::InternalError("loglikelihood: no result");
  absl::Status call = lease->runner->Loglikelihood(
      absl::MakeConstSpan(&req, 1), runners::CallOptions{},
      [&](size_t, absl::StatusOr<runners::LoglikelihoodResult> r) {
        result = std::move(r);
      });
  if (!call.ok()) return ToGrpcStatus(call);
  if (!result.ok()) return ToGrpcStatus(result.status());
  response->set_logprob(result->logprob);
  response->set_is_greedy(result->is_greedy);
  for (int32_t id : result->continuation_token_ids) response->add_token_ids(id);
  response->set_context_tokens(result->context_tokens);
  response->set_cached_tokens(result->cached_tokens);
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::ListModels(grpc::ServerContext* context,
                                         const v1::ListModelsRequest* request,
                                         v1::ListModelsResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  for (v1::ResidentModel& m : models_->List())
    *response->add_models() = std::move(m);
  response->set_max_resident(models_->max_resident());
  // Submit and attempt starts fingerprint through the process-wide list.
  for (const HashingStatus& h : HashActivity::Default()->List()) {
    v1::HashingProgress* p = response->add_hashing();
    p->set_what(h.what);
    p->set_bytes_done(h.bytes_done);
    p->set_bytes_total(h.bytes_total);
    p->set_files_done(h.files_done);
    p->set_files_total(h.files_total);
    p->set_elapsed_s(h.elapsed_s);
    p->set_bytes_per_s(h.bytes_per_s());
  }
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::DeleteRun(grpc::ServerContext* context,
                                        const v1::DeleteRunRequest* request,
                                        v1::DeleteRunResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  if (auto run = store_->GetRun(request->run_id());
      run.ok() && cluster::IsShardedRun(run->spec()) &&
      (run->state() == v1::RUNNING || run->state() == v1::QUEUED)) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        absl::StrCat("run ", request->run_id(),
                     " is running on Slurm; cancel it first (`evalctl cancel ",
                     request->run_id(), "`)")));
  }
  auto deleted = executor_->Delete(request->run_id());
  if (!deleted.ok()) return ToGrpcStatus(deleted.status());
  *response = std::move(*deleted);
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::CheckStore(grpc::ServerContext* context,
                                         const v1::CheckStoreRequest* request,
                                         v1::CheckStoreResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  auto report = executor_->CheckStore(request->repair());
  if (!report.ok()) return ToGrpcStatus(report.status());
  *response = std::move(*report);
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::ImportRun(
    grpc::ServerContext* context,
    grpc::ServerReader<v1::ImportRunChunk>* reader,
    v1::ImportRunResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  v1::RunRecord run;
  std::vector<v1::TaskScores> scores;
  std::vector<v1::SampleRecord> samples;
  v1::ImportRunChunk chunk;
  bool first = true;
  while (reader->Read(&chunk)) {
    if (first) {
      run = std::move(*chunk.mutable_run());
      first = false;
    }
    for (v1::TaskScores& s : *chunk.mutable_scores())
      scores.push_back(std::move(s));
    for (v1::SampleRecord& s : *chunk.mutable_samples())
      samples.push_back(std::move(s));
  }
  if (context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED,
                        "import: the client went away; nothing stored");
  }
  if (first) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "import: no run was sent");
  }
  // The daemon names the run: ids stay ordered by creation in this store.
  run.clear_id();
  run.set_created_unix_ms(0);
  const int64_t count = static_cast<int64_t>(samples.size());
  auto stored =
      store_->ImportRun(std::move(run), std::move(scores), std::move(samples));
  if (!stored.ok()) return ToGrpcStatus(stored.status());
  *response->mutable_run() = std::move(*stored);
  response->set_samples(count);
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::ClaimShard(grpc::ServerContext* context,
                                         const v1::ClaimShardRequest* request,
                                         v1::ClaimShardResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  if (shards_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this evald does not coordinate sharded runs");
  }
  auto claimed = shards_->Claim(*request);
  if (!claimed.ok()) return ToGrpcStatus(claimed.status());
  *response = std::move(*claimed);
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::PutShardSamples(
    grpc::ServerContext* context, const v1::PutShardSamplesRequest* request,
    v1::PutShardSamplesResponse* response) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  if (shards_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this evald does not coordinate sharded runs");
  }
  auto put = shards_->Put(*request);
  if (!put.ok()) return ToGrpcStatus(put.status());
  *response = std::move(*put);
  return grpc::Status::OK;
}

grpc::Status EvalServiceImpl::FinishShard(grpc::ServerContext* context,
                                          const v1::FinishShardRequest* request,
                                          v1::FinishShardResponse*) {
  if (grpc::Status auth = CheckAuth(context); !auth.ok()) return auth;
  if (shards_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this evald does not coordinate sharded runs");
  }
  return ToGrpcStatus(shards_->Finish(*request));
}

}  // namespace evald::daemon
