// File: daemon/cli/compare_cmds.cc
// -----------------------------------------------------------------------------
// evalctl compare / gate: read two runs (from the daemon, or from the store
// with --data-dir), compare them on their shared documents and, for `gate`,
// apply the rules. Exit codes of gate: 0 PASS, 1 FAIL, 4 INCONCLUSIVE, 2 bad
// input (unknown run or tag, malformed rules, no shared documents).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/cli/output.h"
#include "daemon/cli/parse.h"
#include "daemon/queries.h"
#include "report/compare.h"

namespace evald::daemon::cli {
namespace {

using base::Json;

// A run id, `label:KEY=VALUE` (the newest finished run with that label) or
// `tag:NAME` / a bare tag name (through the tags the reader knows).
absl::StatusOr<std::string> ResolveRef(RunReader& reader,
                                       const std::string& ref) {
  if (absl::StartsWith(ref, "label:")) {
    std::vector<std::string> kv =
        absl::StrSplit(ref.substr(6), absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("baseline '", ref, "': expected label:KEY=VALUE"));
    }
    v1::ListRunsRequest request;
    (*request.mutable_labels())[kv[0]] = kv[1];
    ASSIGN_OR_RETURN(v1::ListRunsResponse runs, reader.ListRuns(request));
    for (const v1::RunRecord& run : runs.runs()) {  // newest first
      if (run.state() == v1::SUCCEEDED) return run.id();
    }
    return absl::NotFoundError(
        absl::StrCat("no finished run has label ", kv[0], "=", kv[1]));
  }
  std::string name = ref;
  const bool explicit_tag = absl::StartsWith(ref, "tag:");
  if (explicit_tag) name = ref.substr(4);
  if (!explicit_tag) {
    absl::StatusOr<v1::GetResultsResponse> direct = reader.GetResults(ref);
    if (direct.ok()) return ref;
    if (!absl::IsNotFound(direct.status())) return direct.status();
  }
  absl::StatusOr<std::string> tagged = reader.ResolveTag(name);
  if (tagged.ok()) return tagged;
  if (!absl::IsNotFound(tagged.status())) return tagged.status();
  return absl::NotFoundError(absl::StrCat("no run or tag named '", name, "'"));
}

absl::StatusOr<report::RunData> LoadRun(RunReader& reader,
                                        const std::string& run_id) {
  report::RunData data;
  ASSIGN_OR_RETURN(v1::GetResultsResponse results, reader.GetResults(run_id));
  data.run = results.run();
  // Results leave the fingerprint out; the environment call has it.
  ASSIGN_OR_RETURN(v1::GetEnvironmentResponse env,
                   reader.GetEnvironment(run_id));
  *data.run.mutable_fingerprint() = env.fingerprint();
  data.scores.assign(results.scores().begin(), results.scores().end());
  for (const v1::TaskSpec& task : data.run.spec().tasks()) {
    v1::ListSamplesRequest request;
    request.set_run_id(run_id);
    request.set_task(task.name());
    ASSIGN_OR_RETURN(v1::ListSamplesResponse samples,
                     reader.ListSamples(request));
    for (v1::SampleRecord& s : *samples.mutable_samples())
      data.samples.push_back(std::move(s));
  }
  return data;
}

std::string MetricName(const report::MetricComparison& m) {
  return absl::StrCat(m.task, "/", m.metric, m.subtask.empty() ? "" : "/",
                      m.subtask);
}

Json ComparisonJson(const report::MetricComparison& m) {
  Json j = Json::MakeObject();
  j.Set("task", Json::String(m.task));
  j.Set("metric", Json::String(m.metric));
  j.Set("subtask", Json::String(m.subtask));
  j.Set("score_a", Json::Double(m.score_a));
  j.Set("score_b", Json::Double(m.score_b));
  j.Set("shared", Json::Int(m.shared));
  j.Set("mean_a", Json::Double(m.mean_a));
  j.Set("mean_b", Json::Double(m.mean_b));
  j.Set("difference", Json::Double(m.difference));
  j.Set("ci_low", Json::Double(m.interval.low));
  j.Set("ci_high", Json::Double(m.interval.high));
  j.Set("test", Json::String(m.test));
  j.Set("p", Json::Double(m.p_value));
  j.Set("p_holm", Json::Double(m.p_holm));
  j.Set("right_to_wrong", Json::Int(m.right_to_wrong));
  j.Set("wrong_to_right", Json::Int(m.wrong_to_right));
  return j;
}

Json DifferencesJson(const std::vector<report::FingerprintDifference>& diffs) {
  Json list = Json::MakeArray();
  for (const auto& d : diffs) {
    Json j = Json::MakeObject();
    j.Set("kind", Json::String(d.kind));
    j.Set("field", Json::String(d.field));
    j.Set("a", Json::String(d.a));
    j.Set("b", Json::String(d.b));
    list.Push(std::move(j));
  }
  return list;
}

void PrintDifferences(std::ostream& out,
                      const std::vector<report::FingerprintDifference>& diffs) {
  if (diffs.empty()) {
    out << "fingerprints: identical (environment, datasets, prompts, models)\n";
    return;
  }
  out << "fingerprint differences:\n";
  for (const auto& d : diffs) {
    out << absl::StrFormat("  %-11s %s: %s -> %s\n", d.kind, d.field, d.a, d.b);
  }
}

struct CompareFlags {
  std::string run_a, run_b;
  bool flips = false;
  std::string output;
};

int Compare(CommandContext& context, const CompareFlags& flags) {
  auto format = ResolveOutput(context.global.json, flags.output);
  if (!format.ok()) return ReportError(context, format.status());
  const std::string refs[2] = {flags.run_a, flags.run_b};
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  report::RunData runs[2];
  std::string ids[2];
  for (int i = 0; i < 2; ++i) {
    auto id = ResolveRef(**reader, refs[i]);
    if (!id.ok()) return ReportError(context, id.status());
    ids[i] = *id;
    auto data = LoadRun(**reader, ids[i]);
    if (!data.ok()) return ReportError(context, data.status());
    runs[i] = *std::move(data);
  }
  auto result = report::Compare(runs[0], runs[1]);
  if (!result.ok()) return ReportError(context, result.status());
  if (*format != OutputFormat::kTable) {
    Json out = Json::MakeObject();
    out.Set("run_a", Json::String(ids[0]));
    out.Set("run_b", Json::String(ids[1]));
    out.Set("differences", DifferencesJson(result->differences));
    Json metrics = Json::MakeArray();
    for (const auto& m : result->metrics) metrics.Push(ComparisonJson(m));
    out.Set("metrics", std::move(metrics));
    if (flags.flips) {
      Json flips = Json::MakeArray();
      for (const auto& f : result->flips) {
        Json j = Json::MakeObject();
        j.Set("task", Json::String(f.task));
        j.Set("doc", Json::String(f.doc_id));
        j.Set("metric", Json::String(f.metric));
        j.Set("a", Json::Double(f.a));
        j.Set("b", Json::Double(f.b));
        flips.Push(std::move(j));
      }
      out.Set("flips", std::move(flips));
    }
    context.out << FormatDocument(*format, out);
    return kExitOk;
  }
  context.out << "A = " << ids[0] << "\nB = " << ids[1] << "\n";
  PrintDifferences(context.out, result->differences);
  context.out << absl::StrFormat("%-40s %8s %8s %9s %21s %6s %10s %9s\n",
                                 "METRIC", "A", "B", "B-A", "95% CI", "N", "p",
                                 "p(Holm)");
  for (const auto& m : result->metrics) {
    context.out << absl::StrFormat(
        "%-40s %8.4f %8.4f %+9.4f [%+8.4f, %+8.4f] %6d %10.3g %9.3g  %s\n",
        MetricName(m), m.mean_a, m.mean_b, m.difference, m.interval.low,
        m.interval.high, m.shared, m.p_value, m.p_holm, m.test);
  }
  if (flags.flips) {
    int64_t down = 0, up = 0;
    for (const auto& f : result->flips) (f.a > f.b ? down : up) += 1;
    context.out << "flips: " << down << " right -> wrong, " << up
                << " wrong -> right\n";
    for (const auto& f : result->flips) {
      context.out << "  " << f.task << " " << f.doc_id << " " << f.metric
                  << ": " << (f.a > f.b ? "right -> wrong" : "wrong -> right")
                  << "\n";
    }
  }
  return kExitOk;
}

struct GateFlags {
  std::string run;
  std::string baseline;
  std::string rules;
  std::string junit;
  std::string markdown;
  bool allow_drift = false;
  std::string output;
};

int Gate(CommandContext& context, const GateFlags& flags) {
  auto format = ResolveOutput(context.global.json, flags.output);
  if (!format.ok()) return ReportError(context, format.status());
  auto rules = report::ReadGateRules(flags.rules);
  if (!rules.ok()) return ReportError(context, rules.status());
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  auto run_id = ResolveRef(**reader, flags.run);
  if (!run_id.ok()) return ReportError(context, run_id.status());
  auto base_id = ResolveRef(**reader, flags.baseline);
  if (!base_id.ok()) return ReportError(context, base_id.status());
  auto run = LoadRun(**reader, *run_id);
  if (!run.ok()) return ReportError(context, run.status());
  auto base = LoadRun(**reader, *base_id);
  if (!base.ok()) return ReportError(context, base.status());
  auto result = report::EvaluateGate(*run, *base, *rules, flags.allow_drift);
  if (!result.ok()) return ReportError(context, result.status());

  if (const std::string& path = flags.junit; !path.empty()) {
    absl::Status s = base::WriteFileAtomically(
        path, report::GateJunitXml(*result, *run_id, *base_id));
    if (!s.ok()) return ReportError(context, s);
  }
  if (const std::string& path = flags.markdown; !path.empty()) {
    absl::Status s = base::WriteFileAtomically(
        path, report::GateMarkdown(*result, *run_id, *base_id));
    if (!s.ok()) return ReportError(context, s);
  }
  if (*format != OutputFormat::kTable) {
    Json out = Json::MakeObject();
    out.Set("run", Json::String(*run_id));
    out.Set("baseline", Json::String(*base_id));
    out.Set("verdict", Json::String(report::VerdictName(result->overall)));
    out.Set("drift", DifferencesJson(result->drift));
    out.Set("drift_allowed", Json::Bool(result->drift_allowed));
    Json rules_json = Json::MakeArray();
    for (const auto& r : result->rules) {
      Json j = r.comparison >= 0
                   ? ComparisonJson(result->comparison.metrics[r.comparison])
                   : Json::MakeObject();
      j.Set("rule", Json::String(r.name));
      j.Set("verdict", Json::String(report::VerdictName(r.verdict)));
      j.Set("detail", Json::String(r.detail));
      rules_json.Push(std::move(j));
    }
    out.Set("rules", std::move(rules_json));
    context.out << FormatDocument(*format, out);
  } else {
    context.out << "gate " << *run_id << " against baseline " << *base_id
                << ": " << report::VerdictName(result->overall) << "\n";
    if (!result->drift.empty()) {
      context.out << (result->drift_allowed
                          ? "environment drift (allowed by --allow-drift):\n"
                          : "environment drift: the baseline ran with a "
                            "different environment, "
                            "dataset or prompt; pass --allow-drift to compare "
                            "anyway\n");
      for (const auto& d : result->drift) {
        context.out << "  " << d.kind << " " << d.field << ": " << d.a << " -> "
                    << d.b << "\n";
      }
    }
    for (const auto& r : result->rules) {
      context.out << absl::StrFormat("  %-12s %-36s %s\n",
                                     report::VerdictName(r.verdict), r.name,
                                     r.detail);
    }
  }
  switch (result->overall) {
    case report::Verdict::kPass:
      return kExitOk;
    case report::Verdict::kFail:
      return kExitRunFailed;
    case report::Verdict::kInconclusive:
      return kExitInconclusive;
  }
  return kExitRunFailed;
}

struct TagFlags {
  std::string run;
  std::string name;
  bool list = false;
  std::string output;
};

int Tag(CommandContext& context, const TagFlags& flags) {
  auto format = ResolveOutput(context.global.json, flags.output);
  if (!format.ok()) return ReportError(context, format.status());
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  if (flags.list) {
    if (!flags.run.empty()) {
      return ReportError(
          context,
          absl::InvalidArgumentError(
              "tag: --list takes no RUN NAME (tag RUN NAME | tag --list)"));
    }
    auto tags = (*reader)->ListTags();
    if (!tags.ok()) return ReportError(context, tags.status());
    if (*format != OutputFormat::kTable) {
      Json out = Json::MakeObject();
      for (const auto& [name, run] : *tags) out.Set(name, Json::String(run));
      Json doc = Json::MakeObject();
      doc.Set("tags", std::move(out));
      context.out << FormatDocument(*format, doc);
      return kExitOk;
    }
    for (const auto& [name, run] : *tags)
      context.out << name << "\t" << run << "\n";
    return kExitOk;
  }
  if (flags.name.empty()) {
    return ReportError(context, absl::InvalidArgumentError(
                                    "usage: tag RUN NAME | tag --list"));
  }
  const std::string& name = flags.name;
  if (absl::Status valid = daemon::ValidateTagName(name); !valid.ok()) {
    return ReportError(context, valid);
  }
  auto run_id = ResolveRef(**reader, flags.run);
  if (!run_id.ok()) return ReportError(context, run_id.status());
  absl::Status s = (*reader)->PutTag(name, *run_id);
  if (!s.ok()) return ReportError(context, s);
  if (*format != OutputFormat::kTable) {
    Json out = Json::MakeObject();
    out.Set("tag", Json::String(name));
    out.Set("run_id", Json::String(*run_id));
    context.out << FormatDocument(*format, out);
    return kExitOk;
  }
  context.out << "tagged " << *run_id << " as " << name << "\n";
  return kExitOk;
}

const bool kRegistered = [] {
  RegisterCommand({
      .name = "compare",
      .summary = "paired comparison of two runs on their shared documents",
      .example =
          "evalctl compare release-3 r20261122T084512Z-0007-k3q9x2ma --flips",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<CompareFlags>();
        command
            .add_option("RUN_A", flags->run_a,
                        "a run id, tag, tag:NAME or label:KEY=VALUE")
            ->required();
        command
            .add_option("RUN_B", flags->run_b,
                        "the same, for the run compared with A")
            ->required();
        command.add_flag("--flips", flags->flips,
                         "list the documents whose result changed");
        AddOutputFlag(command, &flags->output);
        return [flags](CommandContext& context) {
          return Compare(context, *flags);
        };
      },
  });
  RegisterCommand({
      .name = "gate",
      .summary = "regression gate: exit 0 pass, 1 fail, 4 inconclusive",
      .example =
          "evalctl gate r20261122T084512Z-0007-k3q9x2ma --baseline release-3 "
          "--rules gate.yaml "
          "--junit gate.xml",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<GateFlags>();
        command
            .add_option("RUN", flags->run, "the run to judge: a run id or tag")
            ->required();
        command
            .add_option("--baseline", flags->baseline,
                        "the run to compare with: a run id, tag, tag:NAME or "
                        "label:KEY=VALUE "
                        "(the newest finished run with the label)")
            ->type_name("REF")
            ->required();
        command
            .add_option("--rules", flags->rules,
                        "the gate rules (docs/gate.md; default: built in)")
            ->type_name("FILE");
        command
            .add_option("--junit", flags->junit,
                        "also write the verdict as JUnit XML")
            ->type_name("FILE");
        command
            .add_option("--markdown", flags->markdown,
                        "also write the verdict as Markdown")
            ->type_name("FILE");
        command.add_flag(
            "--allow-drift", flags->allow_drift,
            "compare even when the environment, datasets or prompts differ");
        AddOutputFlag(command, &flags->output);
        return
            [flags](CommandContext& context) { return Gate(context, *flags); };
      },
  });
  RegisterCommand({
      .name = "tag",
      .summary = "name a run (for gate baselines), or list the names",
      .example = "evalctl tag r20261122T084512Z-0007-k3q9x2ma release-3",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<TagFlags>();
        command.add_option("RUN", flags->run,
                           "the run: a run id, tag or label:KEY=VALUE");
        command.add_option("NAME", flags->name, "the tag");
        command.add_flag("--list", flags->list, "list the tags and their runs");
        AddOutputFlag(command, &flags->output);
        return
            [flags](CommandContext& context) { return Tag(context, *flags); };
      },
  });
  return true;
}();

}  // namespace
}  // namespace evald::daemon::cli
