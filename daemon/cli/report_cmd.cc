// File: daemon/cli/report_cmd.cc
// -----------------------------------------------------------------------------
// evalctl report: the research report of a time window as one self-contained
// HTML file or Markdown (report/weekly.h). Reads the daemon, or the store with
// --data-dir. With --json it prints what it wrote as one JSON object.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/file.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/cli/output.h"
#include "daemon/cli/parse.h"
#include "daemon/queries.h"
#include "report/weekly.h"

namespace evald::daemon::cli {
namespace {

// "7d" / "48h" (that long before now) or a UTC date "2026-11-01" or
// "2026-11-01T08:00".
absl::StatusOr<int64_t> ParseWhen(const std::string& flag,
                                  const std::string& text, int64_t now_ms) {
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
        flag, " ", text,
        ": expected a duration (7d, 48h, 30m) or a UTC date (2026-11-01)"));
  }
  return now_ms - *ago;
}

struct ReportFlags {
  std::string since = "7d";
  std::string until;
  std::vector<std::string> labels;
  std::string out;
  std::string rules;
};

int Report(CommandContext& context, const ReportFlags& flags) {
  const std::string& out_path = flags.out;
  const bool html =
      absl::EndsWith(out_path, ".html") || absl::EndsWith(out_path, ".htm");
  if (!html && !absl::EndsWith(out_path, ".md")) {
    return ReportError(context, absl::InvalidArgumentError(absl::StrCat(
                                    "--out ", out_path,
                                    ": the name must end in .html or .md")));
  }
  const int64_t now = absl::ToUnixMillis(absl::Now());
  auto since = ParseWhen("--since", flags.since, now);
  if (!since.ok()) return ReportError(context, since.status());
  int64_t until = now;
  if (!flags.until.empty()) {
    auto parsed = ParseWhen("--until", flags.until, now);
    if (!parsed.ok()) return ReportError(context, parsed.status());
    until = *parsed;
  }
  if (until <= *since) {
    return ReportError(
        context, absl::InvalidArgumentError("--until must be after --since"));
  }
  auto rules = report::ReadGateRules(flags.rules);
  if (!rules.ok()) return ReportError(context, rules.status());
  v1::ListRunsRequest request;
  request.set_since_unix_ms(*since);
  for (const std::string& label : flags.labels) {
    std::vector<std::string> kv =
        absl::StrSplit(label, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty()) {
      return ReportError(context,
                         absl::InvalidArgumentError(absl::StrCat(
                             "--label ", label, ": expected KEY=VALUE")));
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
        for (v1::SampleRecord& s : *samples->mutable_samples())
          data.samples.push_back(std::move(s));
      }
    }
    runs.push_back(std::move(data));
  }
  auto built = report::BuildReport(std::move(runs), *rules, *since, until);
  if (!built.ok()) return ReportError(context, built.status());
  const std::string text =
      html ? report::RenderHtml(*built) : report::RenderMarkdown(*built);
  absl::Status written = base::WriteFileAtomically(out_path, text);
  if (!written.ok()) return ReportError(context, written);
  if (context.global.json) {
    base::Json out = base::Json::MakeObject();
    out.Set("out", base::Json::String(out_path));
    out.Set("format", base::Json::String(html ? "html" : "markdown"));
    out.Set("since_unix_ms", base::Json::Int(*since));
    out.Set("until_unix_ms", base::Json::Int(until));
    out.Set("runs", base::Json::Int(static_cast<int64_t>(built->runs.size())));
    out.Set("task_metrics",
            base::Json::Int(static_cast<int64_t>(built->trends.size())));
    out.Set("flagged_changes",
            base::Json::Int(static_cast<int64_t>(built->regressions.size())));
    out.Set("environment_changes",
            base::Json::Int(static_cast<int64_t>(built->env_changes.size())));
    context.out << out.Dump() << "\n";
    return kExitOk;
  }
  context.out << "wrote " << out_path << ": " << built->runs.size() << " runs, "
              << built->trends.size() << " task metrics, "
              << built->regressions.size() << " flagged changes, "
              << built->env_changes.size() << " environment changes\n";
  return kExitOk;
}

const bool kRegistered = RegisterCommand({
    .name = "report",
    .summary = "the research report of a time window (HTML or Markdown)",
    .example = "evalctl report --since 7d --label branch=main --out week.html",
    .setup = [](CLI::App& command) -> CommandFn {
      auto flags = std::make_shared<ReportFlags>();
      command
          .add_option("--out", flags->out,
                      "the file to write; its name ends in .html or .md")
          ->type_name("FILE")
          ->required();
      command
          .add_option("--since", flags->since,
                      "the window's start: a duration before now (7d, 48h) or "
                      "a UTC date "
                      "(2026-11-01, 2026-11-01T08:00); default 7d")
          ->type_name("WHEN");
      command
          .add_option("--until", flags->until,
                      "the window's end, as --since (default: now)")
          ->type_name("WHEN");
      AddRepeated(command, "--label", &flags->labels,
                  "only runs with this label")
          ->type_name("KEY=VALUE");
      command
          .add_option("--rules", flags->rules,
                      "gate rules that flag changes (docs/gate.md)")
          ->type_name("FILE");
      return
          [flags](CommandContext& context) { return Report(context, *flags); };
    },
});

}  // namespace
}  // namespace evald::daemon::cli
