#include "daemon/cluster/shard_service.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "daemon/fingerprint.h"

namespace evald::daemon::cluster {
namespace {

// A worker's host facts: its fingerprint without the run's inputs.
v1::Fingerprint HostFacts(const v1::Fingerprint& fingerprint) {
  v1::Fingerprint host = fingerprint;
  host.clear_models();
  host.clear_tasks();
  return host;
}

std::string DriftText(const std::vector<v1::Drift>& drift) {
  std::vector<std::string> parts;
  for (const v1::Drift& d : drift) {
    parts.push_back(
        absl::StrCat(d.field(), ": ", d.expected(), " -> ", d.found()));
  }
  return absl::StrJoin(parts, "; ");
}

absl::Status CheckShard(const v1::RunRecord& run, int32_t shard) {
  if (!IsShardedRun(run.spec())) {
    return absl::FailedPreconditionError(
        absl::StrCat("run ", run.id(), " is not a sharded run"));
  }
  const int32_t shards = run.spec().cluster().slurm().shards();
  if (shard < 0 || shard >= shards || shard >= run.shards_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("run ", run.id(), " has shards 0 to ", shards - 1,
                     ", not shard ", shard));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsShardedRun(const v1::RunSpec& spec) {
  return spec.cluster().slurm().shards() > 0;
}

std::vector<TaskRange> ShardTasks(const v1::RunRecord& run, int32_t index) {
  std::vector<TaskRange> ranges;
  const int32_t shards = run.spec().cluster().slurm().shards();
  for (const v1::TaskSpec& t : run.spec().tasks()) {
    int64_t total = 0;
    for (const v1::TaskProgress& p : run.progress()) {
      if (p.task() == t.name()) total = p.total();
    }
    ranges.push_back({t.name(), ShardRange(total, shards, index)});
  }
  return ranges;
}

absl::Status AddShardTasks(store::Store& store, const v1::RunRecord& run,
                           int32_t index, v1::ClaimShardResponse* claim) {
  for (const TaskRange& r : ShardTasks(run, index)) {
    v1::ShardTask* task = claim->add_tasks();
    task->set_task(r.task);
    task->set_first_doc(r.range.first);
    task->set_end_doc(r.range.end);
    ASSIGN_OR_RETURN(std::set<int64_t> done,
                     store.DoneDocIndices(run.id(), r.task));
    for (int64_t d = r.range.first; d < r.range.end; ++d) {
      if (done.count(d) == 0) task->add_todo(d);
    }
  }
  return absl::OkStatus();
}

std::string WorkerLabel(const v1::ShardState& shard) {
  std::string label = absl::StrCat("shard ", shard.index());
  if (!shard.node().empty()) absl::StrAppend(&label, " on ", shard.node());
  if (!shard.slurm_job_id().empty())
    absl::StrAppend(&label, " (job ", shard.slurm_job_id(), ")");
  return label;
}

ShardService::ShardService(store::Store* store, const base::Clock* clock)
    : store_(store), clock_(clock) {}

absl::Status ShardService::Update(
    const std::string& run_id,
    const std::function<absl::Status(v1::RunRecord&)>& update) {
  absl::MutexLock lock(&mu_);
  return UpdateLocked(run_id, update);
}

absl::Status ShardService::UpdateLocked(
    const std::string& run_id,
    const std::function<absl::Status(v1::RunRecord&)>& update) {
  ASSIGN_OR_RETURN(v1::RunRecord run, store_->GetRun(run_id));
  RETURN_IF_ERROR(update(run));
  run.clear_fingerprint();  // PutRun keeps the stored one
  return store_->PutRun(run);
}

absl::StatusOr<v1::ClaimShardResponse> ShardService::Claim(
    const v1::ClaimShardRequest& request) {
  v1::ClaimShardResponse response;
  const int32_t index = request.shard();
  const std::string where =
      absl::StrCat("shard ", index, " on ",
                   request.node().empty() ? "an unnamed node" : request.node());
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(
      UpdateLocked(request.run_id(), [&](v1::RunRecord& run) -> absl::Status {
        RETURN_IF_ERROR(CheckShard(run, index));
        if (run.state() != v1::RUNNING) {
          return absl::FailedPreconditionError(
              absl::StrCat("run ", run.id(), " is not running (",
                           v1::RunState_Name(run.state()), "); ", where,
                           " has nothing to do"));
        }
        v1::ShardState& shard = *run.mutable_shards(index);
        if (shard.status() == v1::SHARD_FAILED) {
          return absl::FailedPreconditionError(
              absl::StrCat("run ", run.id(), ": ", where, " has failed"));
        }
        const v1::Fingerprint& mine = request.fingerprint();
        // The run's inputs as this worker sees them, against the run's.
        v1::Fingerprint seen = run.fingerprint();
        seen.clear_models();
        seen.clear_tasks();
        *seen.mutable_models() = mine.models();
        *seen.mutable_tasks() = mine.tasks();
        std::vector<v1::Drift> inputs =
            DiffFingerprints(run.fingerprint(), seen);
        std::vector<v1::Drift> pins = CheckPins(run.spec().pin(), mine);
        // Host facts against the first worker's (the shard with the lowest
        // index that was claimed); the CPU model may differ between nodes.
        std::vector<v1::Drift> host;
        for (const v1::ShardState& other : run.shards()) {
          if (!other.has_worker()) continue;
          for (v1::Drift& d :
               DiffFingerprints(other.worker(), HostFacts(mine))) {
            if (d.field() != "cpu") host.push_back(std::move(d));
          }
          break;
        }
        if (!run.spec().allow_drift() && (!inputs.empty() || !pins.empty())) {
          std::vector<v1::Drift> refused = inputs;
          refused.insert(refused.end(), pins.begin(), pins.end());
          return absl::FailedPreconditionError(absl::StrCat(
              "run ", run.id(), ": ", where, " refused: ", DriftText(refused),
              " (submit with --allow-drift to record such differences "
              "instead)"));
        }
        for (const std::vector<v1::Drift>* list : {&inputs, &pins, &host}) {
          for (const v1::Drift& d : *list) {
            v1::Drift named = d;
            named.set_field(absl::StrCat(where, ": ", d.field()));
            bool known = false;
            for (const v1::Drift& have : run.drift()) {
              known = known || (have.field() == named.field() &&
                                have.found() == named.found());
            }
            if (!known) *run.add_drift() = named;
            *response.add_drift() = std::move(named);
            run.set_drifted(true);
          }
        }
        if (response.drift_size() > 0) {
          LOG(WARNING) << "run " << run.id() << ": " << where
                       << " differs (recorded as drift): "
                       << DriftText({response.drift().begin(),
                                     response.drift().end()});
        }
        if (shard.status() != v1::SHARD_DONE)
          shard.set_status(v1::SHARD_RUNNING);
        shard.set_node(request.node());
        // The coordinator's latest submission stays the shard's job; a
        // worker of an older one (requeued by Slurm) does not replace it.
        if (shard.slurm_job_id().empty())
          shard.set_slurm_job_id(request.slurm_job_id());
        shard.set_claims(shard.claims() + 1);
        // Queued until the first worker started.
        if (run.phases().queue_s() == 0) {
          run.mutable_phases()->set_queue_s(
              static_cast<double>(clock_->NowUnixNanos() / 1'000'000 -
                                  run.created_unix_ms()) /
              1e3);
        }
        *shard.mutable_worker() = HostFacts(mine);

        *response.mutable_spec() = run.spec();
        response.set_attempt(run.attempt());
        response.set_claim(shard.claims());
        RETURN_IF_ERROR(AddShardTasks(*store_, run, index, &response));
        LOG(INFO) << "run " << run.id() << ": " << WorkerLabel(shard)
                  << " claimed (claim " << shard.claims() << ")";
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::PutShardSamplesResponse> ShardService::Put(
    v1::PutShardSamplesRequest request) {
  v1::PutShardSamplesResponse response;
  ASSIGN_OR_RETURN(v1::RunRecord run, store_->GetRun(request.run_id()));
  const int32_t index = request.shard();
  RETURN_IF_ERROR(CheckShard(run, index));
  if (run.state() != v1::RUNNING) {
    response.set_stop(true);
    return response;
  }
  const std::vector<TaskRange> ranges = ShardTasks(run, index);
  const std::string where =
      absl::StrCat("run ", run.id(), " shard ", index, ": ");
  // Every sample is checked before any is stored.
  for (const v1::SampleRecord& s : request.samples()) {
    if (s.run_id() != run.id()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "a sample of run '", s.run_id(), "' (task '",
                       s.task(), "' doc ", s.doc_index(), ")"));
    }
    const TaskRange* range = nullptr;
    for (const TaskRange& r : ranges) {
      if (r.task == s.task()) range = &r;
    }
    if (range == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "task '", s.task(), "' is not a task of the run"));
    }
    if (s.doc_index() < range->range.first ||
        s.doc_index() >= range->range.end) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "task '", s.task(), "' doc ", s.doc_index(),
                       " is outside the shard's documents [",
                       range->range.first, ", ", range->range.end, ")"));
    }
  }
  const std::string label = WorkerLabel(run.shards(index));
  for (v1::SampleRecord& s : *request.mutable_samples()) {
    s.set_worker(label);
    ASSIGN_OR_RETURN(bool wrote, store_->PutSampleIfAbsent(s));
    if (wrote) {
      response.set_stored(response.stored() + 1);
    } else {
      response.set_duplicates(response.duplicates() + 1);
    }
  }
  return response;
}

absl::Status ShardService::Finish(const v1::FinishShardRequest& request) {
  return Update(request.run_id(), [&](v1::RunRecord& run) -> absl::Status {
    RETURN_IF_ERROR(CheckShard(run, request.shard()));
    v1::ShardState& shard = *run.mutable_shards(request.shard());
    if (!request.error().empty()) {
      shard.set_last_error(absl::StrCat(
          request.error(), request.log_tail().empty() ? "" : "; last lines: ",
          request.log_tail()));
      LOG(WARNING) << "run " << run.id() << ": " << WorkerLabel(shard)
                   << " ended with an error: " << request.error();
    }
    const v1::EngineStats& add = request.stats();
    v1::EngineStats* st = run.mutable_stats();
    st->set_prompt_tokens(st->prompt_tokens() + add.prompt_tokens());
    st->set_cached_prompt_tokens(st->cached_prompt_tokens() +
                                 add.cached_prompt_tokens());
    st->set_generated_tokens(st->generated_tokens() + add.generated_tokens());
    st->set_busy_s(st->busy_s() + add.busy_s());
    const v1::PhaseTimes& ph = request.phases();
    v1::PhaseTimes* out = run.mutable_phases();
    out->set_model_load_s(out->model_load_s() + ph.model_load_s());
    out->set_prefill_s(out->prefill_s() + ph.prefill_s());
    out->set_decode_s(out->decode_s() + ph.decode_s());
    out->set_judge_s(out->judge_s() + ph.judge_s());
    out->set_judge_overlap_s(out->judge_overlap_s() + ph.judge_overlap_s());
    return absl::OkStatus();
  });
}

}  // namespace evald::daemon::cluster
