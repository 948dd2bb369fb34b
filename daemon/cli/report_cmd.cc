// File: daemon/cli/report_cmd.cc
// -----------------------------------------------------------------------------
// evalctl report: the research report of a time window as one self-contained
// HTML file or Markdown (report/weekly.h). Reads the daemon, or the store with
// --data-dir.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/queries.h"
#include "report/weekly.h"

namespace evald::cli {
namespace {

// "7d" / "48h" (that long before now) or a UTC date "2026-11-01" or
// "2026-11-01T08:00".
absl::StatusOr<int64_t> ParseWhen(const std::string& flag, const std::string& text,
                                  int64_t now_ms) {
  absl::Time t;
  std::string error;
  for (const char* format : {"%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"}) {
    if (absl::ParseTime(format, text, absl::UTCTimeZone(), &t, &error)) {
      return absl::ToUnixMillis(t);
    }
  }
  absl::StatusOr<int64_t> ago = daemon::ParseSinceMillis(text);
  if (!ago.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, " ", text, ": expected a duration (7d, 48h, 30m) or a UTC date (2026-11-01)"));
  }
  return now_ms - *ago;
}

int Report(CommandContext& context) {
  auto args = ParseArgs(context.args, {"--since", "--until", "--label", "--out", "--rules"}, {});
  if (!args.ok()) return ReportError(context, args.status());
  const std::string out_path = args->Get("--out");
  if (!args->positionals.empty() || out_path.empty()) {
    return ReportError(context, absl::InvalidArgumentError(
                                    "usage: report --since 7d|DATE [--until DATE] [--label k=v]... "
                                    "--out week.html|week.md [--rules gate.yaml]"));
  }
  const bool html = absl::EndsWith(out_path, ".html") || absl::EndsWith(out_path, ".htm");
  if (!html && !absl::EndsWith(out_path, ".md")) {
    return ReportError(context, absl::InvalidArgumentError(absl::StrCat(
                                    "--out ", out_path, ": the name must end in .html or .md")));
  }
  const int64_t now = absl::ToUnixMillis(absl::Now());
  auto since = ParseWhen("--since", args->Get("--since", "7d"), now);
  if (!since.ok()) return ReportError(context, since.status());
  int64_t until = now;
  if (args->values.count("--until") > 0) {
    auto parsed = ParseWhen("--until", args->Get("--until"), now);
    if (!parsed.ok()) return ReportError(context, parsed.status());
    until = *parsed;
  }
  if (until <= *since) {
    return ReportError(context, absl::InvalidArgumentError("--until must be after --since"));
  }
  auto rules = report::ReadGateRules(args->Get("--rules"));
  if (!rules.ok()) return ReportError(context, rules.status());
  v1::ListRunsRequest request;
  request.set_since_unix_ms(*since);
  for (const std::string& label : args->GetAll("--label")) {
    std::vector<std::string> kv = absl::StrSplit(label, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty()) {
      return ReportError(context, absl::InvalidArgumentError(
                                      absl::StrCat("--label ", label, ": expected KEY=VALUE")));
    }
    (*request.mutable_labels())[kv[0]] = kv[1];
  }
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  auto listed = (*reader)->ListRuns(request);
  if (!listed.ok()) return ReportError(context, listed.status());
  std::vector<report::RunData> runs;
  for (const v1::RunRecord& record : listed->runs()) {
    if (record.created_unix_ms() > until) continue;
    report::RunData data;
    data.run = record;
    if (record.state() == v1::SUCCEEDED) {
      auto results = (*reader)->GetResults(record.id());
      if (!results.ok()) return ReportError(context, results.status());
      data.run = results->run();
      auto env = (*reader)->GetEnvironment(record.id());
      if (!env.ok()) return ReportError(context, env.status());
      *data.run.mutable_fingerprint() = env->fingerprint();
      data.scores.assign(results->scores().begin(), results->scores().end());
      for (const v1::TaskSpec& task : record.spec().tasks()) {
        v1::ListSamplesRequest samples_request;
        samples_request.set_run_id(record.id());
        samples_request.set_task(task.name());
        auto samples = (*reader)->ListSamples(samples_request);
        if (!samples.ok()) return ReportError(context, samples.status());
        for (v1::SampleRecord& s : *samples->mutable_samples()) data.samples.push_back(std::move(s));
      }
    }
    runs.push_back(std::move(data));
  }
  auto built = report::BuildReport(std::move(runs), *rules, *since, until);
  if (!built.ok()) return ReportError(context, built.status());
  const std::string text = html ? report::RenderHtml(*built) : report::RenderMarkdown(*built);
  absl::Status written = base::WriteFileAtomically(out_path, text);
  if (!written.ok()) return ReportError(context, written);
  context.out << "wrote " << out_path << ": " << built->runs.size() << " runs, "
              << built->trends.size() << " task metrics, " << built->regressions.size()
              << " flagged changes, " << built->env_changes.size() << " environment changes\n";
  return kExitOk;
}

const bool kRegistered = RegisterCommand(
    {"report",
     "report --since 7d|DATE [--until DATE] [--label k=v]... --out week.html|week.md "
     "[--rules gate.yaml]",
     "the research report of a time window (HTML or Markdown)", Report});

}  // namespace
}  // namespace evald::cli
