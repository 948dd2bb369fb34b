#include "daemon/run_validation.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "daemon/suite.h"

namespace evald::daemon {

std::optional<std::string> StoreHashCache::Lookup(
    const std::string& path, const base::FileIdentity& identity) {
  auto hit = store_->GetHash(path, identity);
  if (!hit.ok()) return std::nullopt;
  return *hit;
}

void StoreHashCache::Remember(const std::string& path,
                              const base::FileIdentity& identity,
                              const std::string& sha256) {
  v1::HashCacheEntry entry;
  entry.set_path(path);
  entry.set_size(identity.size);
  entry.set_mtime_ns(identity.mtime_ns);
  entry.set_inode(identity.inode);
  entry.set_device(identity.device);
  entry.set_sha256(sha256);
  // A failed cache write only costs a re-hash next time.
  (void)store_->PutHash(entry);
}

absl::Status ResolveBaselines(v1::RunSpec* spec, store::Store* store) {
  for (int i = 0; i < spec->tasks_size(); ++i) {
    v1::TaskSpec* t = spec->mutable_tasks(i);
    auto it = t->mutable_options()->find("baseline");
    if (it == t->mutable_options()->end()) continue;
    const std::string field =
        absl::StrCat("field 'tasks[", i, "].options.baseline'");
    const std::string ref = it->second;
    std::string run_id;
    if (absl::StartsWith(ref, "tag:")) {
      auto tagged = store->ResolveTag(ref.substr(4));
      if (!tagged.ok())
        return absl::NotFoundError(
            absl::StrCat(field, ": no tag '", ref.substr(4), "'"));
      run_id = *tagged;
    } else if (store->GetRun(ref).ok()) {
      run_id = ref;
    } else if (auto tagged = store->ResolveTag(ref); tagged.ok()) {
      run_id = *tagged;
    } else {
      return absl::NotFoundError(
          absl::StrCat(field, ": no run or tag '", ref, "' in the store"));
    }
    auto run = store->GetRun(run_id);
    if (!run.ok())
      return absl::NotFoundError(
          absl::StrCat(field, ": run ", run_id, " is not in the store"));
    if (run->state() != v1::SUCCEEDED) {
      return absl::FailedPreconditionError(absl::StrCat(
          field, ": baseline run ", run_id, " is ",
          v1::RunState_Name(run->state()), "; a baseline must have succeeded"));
    }
    auto samples = store->ListSamples(run_id, t->name());
    if (!samples.ok()) return samples.status();
    if (samples->empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(field, ": baseline run ", run_id,
                       " has no samples of task '", t->name(), "'"));
    }
    it->second = run_id;
  }
  return absl::OkStatus();
}

absl::StatusOr<PreparedRun> PrepareRun(const v1::RunSpec& spec,
                                       const std::string& data_dir,
                                       const v1::Fingerprint& host,
                                       FileHashCache* cache) {
  if (spec.tasks_size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("suite '", spec.name(), "': no tasks"));
  }
#ifndef EVALD_HAVE_OPENAI_RUNNER
  for (const auto& [field, model] :
       {std::make_pair("candidate", &spec.candidate()),
        std::make_pair("judge", &spec.judge())}) {
    if (model->source_case() == v1::ModelSpec::kEndpoint) {
      return absl::UnimplementedError(
          absl::StrCat("field '", field, ".endpoint' (", model->endpoint(),
                       "): this evald was built without libcurl"));
    }
  }
#endif
  PreparedRun prepared;
  prepared.fingerprint = host;
  {
    auto model = FingerprintModel("candidate", spec.candidate(), cache);
    if (!model.ok()) {
      return absl::Status(
          model.status().code(),
          absl::StrCat("field 'candidate.model': ", model.status().message()));
    }
    *prepared.fingerprint.add_models() = std::move(*model);
  }
  if (spec.has_judge()) {
    auto model = FingerprintModel("judge", spec.judge(), cache);
    if (!model.ok()) {
      return absl::Status(
          model.status().code(),
          absl::StrCat("field 'judge.model': ", model.status().message()));
    }
    *prepared.fingerprint.add_models() = std::move(*model);
  }
  for (int i = 0; i < spec.tasks_size(); ++i) {
    const v1::TaskSpec& t = spec.tasks(i);
    const std::string field = absl::StrCat("tasks[", i, "]");
    tasks::TaskOptions options = TaskOptionsFor(spec, t, data_dir);
    if (options.task_file.empty() && !base::PathExists(options.data_path)) {
      return absl::NotFoundError(absl::StrCat(
          "field '", field, ".data': dataset path ", options.data_path,
          " of task '", t.name(), "' does not exist",
          t.data_path().empty()
              ? " (set 'data:' or run `evalctl datasets fetch`)"
              : ""));
    }
    auto task = tasks::CreateTask(t.name(), options);
    if (!task.ok()) {
      return absl::Status(task.status().code(),
                          absl::StrCat("field '", field, "' (task '", t.name(),
                                       "'): ", task.status().message()));
    }
    if ((*task)->info().needs_judge && !spec.has_judge()) {
      return absl::InvalidArgumentError(
          absl::StrCat("field '", field, "' (task '", t.name(),
                       "'): grades with a judge model, but the suite has no "
                       "'judge:' section"));
    }
    v1::TaskFingerprint tf =
        TaskFingerprintFromInfo((*task)->info(), spec.seed());
    for (v1::FileHash& f : *tf.mutable_dataset_files()) {
      if (f.sha256().empty()) {
        auto sha = HashFileCached(f.name(), cache);
        if (sha.ok()) f.set_sha256(*sha);
      }
    }
    *prepared.fingerprint.add_tasks() = std::move(tf);
  }
  prepared.fingerprint.set_decoding_mode(
      "greedy (tasks' own generation settings)");
  prepared.drift = CheckPins(spec.pin(), prepared.fingerprint);
  if (!prepared.drift.empty() && !spec.allow_drift()) {
    std::vector<std::string> parts;
    for (const v1::Drift& d : prepared.drift) {
      parts.push_back(absl::StrCat(d.field(), ": expected ", d.expected(),
                                   ", found ", d.found()));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "environment does not match the suite's pin (",
        absl::StrJoin(parts, "; "), "); pass --allow-drift to run anyway"));
  }
  return prepared;
}

}  // namespace evald::daemon
