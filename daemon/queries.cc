#include "daemon/queries.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace evald::daemon {

std::string StorePath(absl::string_view data_dir) { return absl::StrCat(data_dir, "/store"); }

absl::StatusOr<v1::ListRunsResponse> ReadRuns(store::Store& store,
                                               const v1::ListRunsRequest& request) {
  store::RunFilter filter;
  for (const auto& [k, v] : request.labels()) filter.labels[k] = v;
  if (request.since_unix_ms() > 0) filter.since_unix_ms = request.since_unix_ms();
  if (request.limit() > 0) filter.limit = static_cast<size_t>(request.limit());
  ASSIGN_OR_RETURN(std::vector<v1::RunRecord> runs, store.ListRuns(filter));
  v1::ListRunsResponse response;
  for (v1::RunRecord& run : runs) *response.add_runs() = std::move(run);
  return response;
}

absl::StatusOr<v1::GetResultsResponse> ReadResults(store::Store& store, absl::string_view run_id) {
  v1::GetResultsResponse response;
  ASSIGN_OR_RETURN(*response.mutable_run(), store.GetRun(run_id));
  response.mutable_run()->clear_fingerprint();  // `env` shows it; results stay small
  ASSIGN_OR_RETURN(std::vector<v1::TaskScores> scores, store.GetScores(run_id));
  for (v1::TaskScores& s : scores) *response.add_scores() = std::move(s);
  return response;
}

absl::StatusOr<v1::ListSamplesResponse> ReadSamples(store::Store& store,
                                                    const v1::ListSamplesRequest& request) {
  ASSIGN_OR_RETURN(v1::RunRecord run, store.GetRun(request.run_id()));
  bool known = false;
  for (const v1::TaskSpec& t : run.spec().tasks()) known = known || t.name() == request.task();
  if (!known) {
    std::string names;
    for (const v1::TaskSpec& t : run.spec().tasks()) {
      absl::StrAppend(&names, names.empty() ? "" : ", ", t.name());
    }
    return absl::NotFoundError(absl::StrCat("run ", request.run_id(), " has no task '",
                                            request.task(), "' (its tasks: ", names, ")"));
  }
  ASSIGN_OR_RETURN(std::vector<v1::SampleRecord> samples,
                   store.ListSamples(request.run_id(), request.task()));
  v1::ListSamplesResponse response;
  for (v1::SampleRecord& s : samples) {
    if (request.failed_only()) {
      bool failed = !s.error().empty();
      for (const auto& [name, value] : s.metrics()) failed = failed || value == 0;
      if (!failed) continue;
    }
    *response.add_samples() = std::move(s);
    if (request.limit() > 0 && response.samples_size() >= request.limit()) break;
  }
  return response;
}

absl::StatusOr<v1::GetEnvironmentResponse> ReadEnvironment(store::Store& store,
                                                           absl::string_view run_id) {
  ASSIGN_OR_RETURN(v1::RunRecord run, store.GetRun(run_id));
  v1::GetEnvironmentResponse response;
  *response.mutable_fingerprint() = run.fingerprint();
  *response.mutable_drift() = run.drift();
  response.set_drifted(run.drifted());
  return response;
}

absl::StatusOr<int64_t> ParseSinceMillis(absl::string_view text) {
  if (text.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("--since ", text, ": expected a duration such as 7d, 12h, 30m or 90s"));
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(text.substr(0, text.size() - 1), &n) || n < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--since ", text, ": expected a duration such as 7d, 12h, 30m or 90s"));
  }
  switch (text.back()) {
    case 'd': return n * 86400 * 1000;
    case 'h': return n * 3600 * 1000;
    case 'm': return n * 60 * 1000;
    case 's': return n * 1000;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("--since ", text, ": unit must be d, h, m or s"));
  }
}

}  // namespace evald::daemon
