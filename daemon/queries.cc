#include "daemon/queries.h"

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "daemon/run_file.h"
#include "store/keys.h"

namespace evald::daemon {

std::string StorePath(absl::string_view data_dir) {
  return absl::StrCat(data_dir, "/store");
}

absl::StatusOr<v1::ListRunsResponse> ReadRuns(
    store::Store& store, const v1::ListRunsRequest& request) {
  store::RunFilter filter;
  for (const auto& [k, v] : request.labels()) filter.labels[k] = v;
  if (request.since_unix_ms() > 0)
    filter.since_unix_ms = request.since_unix_ms();
  if (request.limit() > 0) filter.limit = static_cast<size_t>(request.limit());
  store::Unreadable unreadable;
  ASSIGN_OR_RETURN(std::vector<v1::RunRecord> runs,
                   store.ListRuns(filter, &unreadable));
  v1::ListRunsResponse response;
  for (v1::RunRecord& run : runs) {
    RETURN_IF_ERROR(store.AddUnfoldedFigures(&run, &unreadable));
    // The suite text can be large; `results` and `env` show a run whole.
    run.mutable_spec()->clear_suite_yaml();
    *response.add_runs() = std::move(run);
  }
  for (std::string& u : unreadable) response.add_unreadable(std::move(u));
  return response;
}

absl::StatusOr<v1::GetResultsResponse> ReadResults(store::Store& store,
                                                   absl::string_view run_id) {
  v1::GetResultsResponse response;
  store::Unreadable unreadable;
  ASSIGN_OR_RETURN(*response.mutable_run(), store.GetRun(run_id, &unreadable));
  RETURN_IF_ERROR(
      store.AddUnfoldedFigures(response.mutable_run(), &unreadable));
  response.mutable_run()
      ->clear_fingerprint();  // `env` shows it; results stay small
  ASSIGN_OR_RETURN(std::vector<v1::TaskScores> scores,
                   store.GetScores(run_id, &unreadable));
  for (v1::TaskScores& s : scores) *response.add_scores() = std::move(s);
  for (std::string& u : unreadable) response.add_unreadable(std::move(u));
  return response;
}

absl::Status VisitSamples(store::Store& store,
                          const v1::ListSamplesRequest& request,
                          const std::function<bool(v1::SampleRecord)>& visit,
                          store::Unreadable* unreadable) {
  ASSIGN_OR_RETURN(v1::RunRecord run, store.GetRun(request.run_id()));
  bool known = false;
  for (const v1::TaskSpec& t : run.spec().tasks())
    known = known || t.name() == request.task();
  if (!known) {
    std::string names;
    for (const v1::TaskSpec& t : run.spec().tasks()) {
      absl::StrAppend(&names, names.empty() ? "" : ", ", t.name());
    }
    return absl::NotFoundError(absl::StrCat("run ", request.run_id(),
                                            " has no task '", request.task(),
                                            "' (its tasks: ", names, ")"));
  }
  int64_t sent = 0;
  return store.ScanSamples(
      request.run_id(), request.task(),
      [&](v1::SampleRecord s) {
        if (request.failed_only()) {
          bool failed = !s.error().empty();
          for (const auto& [name, value] : s.metrics())
            failed = failed || value == 0;
          if (!failed) return true;
        }
        if (!visit(std::move(s))) return false;
        ++sent;
        return request.limit() <= 0 || sent < request.limit();
      },
      unreadable);
}

absl::StatusOr<v1::ListSamplesResponse> ReadSamples(
    store::Store& store, const v1::ListSamplesRequest& request) {
  v1::ListSamplesResponse response;
  store::Unreadable unreadable;
  RETURN_IF_ERROR(VisitSamples(
      store, request,
      [&](v1::SampleRecord s) {
        *response.add_samples() = std::move(s);
        return true;
      },
      &unreadable));
  for (std::string& u : unreadable) response.add_unreadable(std::move(u));
  return response;
}

absl::StatusOr<v1::GetEnvironmentResponse> ReadEnvironment(
    store::Store& store, absl::string_view run_id) {
  store::Unreadable unreadable;
  ASSIGN_OR_RETURN(v1::RunRecord run, store.GetRun(run_id, &unreadable));
  v1::GetEnvironmentResponse response;
  for (std::string& u : unreadable) response.add_unreadable(std::move(u));
  *response.mutable_fingerprint() = run.fingerprint();
  *response.mutable_drift() = run.drift();
  response.set_drifted(run.drifted());
  *response.mutable_resume_changes() = run.resume_changes();
  return response;
}

absl::StatusOr<v1::DeleteRunResponse> DeleteStoredRun(
    store::Store& store, absl::string_view run_id) {
  ASSIGN_OR_RETURN(store::DeletedRun deleted, store.DeleteRun(run_id));
  v1::DeleteRunResponse response;
  response.set_samples(deleted.samples);
  response.set_scores(deleted.scores);
  response.set_was_queued(deleted.was_queued);
  for (std::string& t : deleted.tags) response.add_tags(std::move(t));
  return response;
}

absl::StatusOr<v1::CheckStoreResponse> CheckStoredRecords(
    store::Store& store, bool repair, const std::set<std::string>& skip) {
  ASSIGN_OR_RETURN(store::CheckReport report, store.Check(repair, skip));
  v1::CheckStoreResponse response;
  response.set_records(report.records);
  response.set_repaired(report.repaired);
  for (store::CheckProblem& p : report.problems) {
    v1::StoreProblem* out = response.add_problems();
    out->set_record(std::move(p.record));
    out->set_problem(std::move(p.problem));
    out->set_repair(std::move(p.repair));
  }
  return response;
}

absl::Status ValidateTagName(absl::string_view name) {
  const std::string shown = base::EscapeInvalidUtf8(name.substr(0, 40));
  const std::string quoted =
      absl::StrCat("tag name '", shown, name.size() > 40 ? "...'" : "'");
  if (name.empty()) return absl::InvalidArgumentError("tag name is empty");
  if (name.size() > kMaxTagBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        quoted, ": ", name.size(), " bytes; a tag is at most ", kMaxTagBytes));
  }
  if (!base::IsValidUtf8(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat(quoted, ": not valid UTF-8"));
  }
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == ':' || c == '/') {
      return absl::InvalidArgumentError(
          absl::StrCat(quoted, ": no spaces, control characters, ':' or '/'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParseSinceMillis(absl::string_view text) {
  if (text.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--since ", text, ": expected a duration such as 7d, 12h, 30m or 90s"));
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(text.substr(0, text.size() - 1), &n) || n < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--since ", text, ": expected a duration such as 7d, 12h, 30m or 90s"));
  }
  switch (text.back()) {
    case 'd':
      return n * 86400 * 1000;
    case 'h':
      return n * 3600 * 1000;
    case 'm':
      return n * 60 * 1000;
    case 's':
      return n * 1000;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("--since ", text, ": unit must be d, h, m or s"));
  }
}

absl::StatusOr<v1::ImportRunResponse> ImportRunChunks(
    store::Store& store, v1::ImportRunChunk first,
    const std::function<absl::StatusOr<std::optional<v1::ImportRunChunk>>()>&
        next,
    absl::string_view where) {
  RETURN_IF_ERROR(CheckRunFileHeader(first.header(), where));
  if (!store::keys::ParseRunId(first.run().id())) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": run id \"", absl::CHexEscape(first.run().id().substr(0, 64)),
        "\" is not an evald run id"));
  }
  const int64_t scores = first.scores_size();
  ASSIGN_OR_RETURN(std::unique_ptr<store::RunImport> import,
                   store.BeginImport(std::move(*first.mutable_run())));
  for (v1::TaskScores& s : *first.mutable_scores())
    RETURN_IF_ERROR(import->AddScores(std::move(s)));
  bool ended = false;
  while (true) {
    ASSIGN_OR_RETURN(std::optional<v1::ImportRunChunk> chunk, next());
    if (!chunk) break;
    if (ended || chunk->has_header() || chunk->has_run() ||
        chunk->scores_size() > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": run ", import->run_id(),
          ": a chunk out of order (after the end, or a second run or "
          "scores); nothing stored"));
    }
    for (v1::SampleRecord& s : *chunk->mutable_samples())
      RETURN_IF_ERROR(import->AddSample(std::move(s)));
    if (chunk->has_end()) {
      RETURN_IF_ERROR(
          CheckRunFileEnd(chunk->end(), import->samples(), scores, where));
      ended = true;
    }
  }
  if (!ended) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": run ", import->run_id(), ": ended after ", import->samples(),
        " samples without its end chunk; nothing stored"));
  }
  v1::ImportRunResponse response;
  response.set_samples(import->samples());
  ASSIGN_OR_RETURN(*response.mutable_run(), import->Commit());
  return response;
}

}  // namespace evald::daemon
