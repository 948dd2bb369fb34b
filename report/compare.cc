// File: report/compare.cc
#include "report/compare.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "report/text.h"
#include "yaml-cpp/yaml.h"

namespace evald::report {
namespace {

void Diff(std::vector<FingerprintDifference>* out, const char* kind,
          const std::string& field, const std::string& a,
          const std::string& b) {
  if (a != b)
    out->push_back(
        {kind, field, a.empty() ? "(none)" : a, b.empty() ? "(none)" : b});
}

std::string GpuNames(const v1::Fingerprint& f) {
  std::vector<std::string> names;
  for (const v1::GpuInfo& g : f.gpus()) names.push_back(g.name());
  return absl::StrJoin(names, ", ");
}

std::map<std::string, std::string> FileHashes(
    const google::protobuf::RepeatedPtrField<v1::FileHash>& files) {
  std::map<std::string, std::string> out;
  for (const v1::FileHash& f : files) out[f.name()] = f.sha256();
  return out;
}

void DiffFiles(std::vector<FingerprintDifference>* out, const char* kind,
               const std::string& prefix,
               const std::map<std::string, std::string>& a,
               const std::map<std::string, std::string>& b) {
  std::set<std::string> names;
  for (const auto& [n, h] : a) names.insert(n);
  for (const auto& [n, h] : b) names.insert(n);
  for (const std::string& n : names) {
    auto ia = a.find(n);
    auto ib = b.find(n);
    Diff(out, kind, absl::StrCat(prefix, n), ia == a.end() ? "" : ia->second,
         ib == b.end() ? "" : ib->second);
  }
}

bool IsBinary(double v) { return v == 0.0 || v == 1.0; }

struct DocValues {
  std::string doc_id;
  double a = 0;
  double b = 0;
};

MetricComparison CompareValues(const std::string& task,
                               const std::string& metric,
                               const std::string& subtask,
                               const std::vector<DocValues>& docs) {
  MetricComparison m;
  m.task = task;
  m.metric = metric;
  m.subtask = subtask;
  m.shared = static_cast<int64_t>(docs.size());
  if (docs.empty()) {
    m.test = "none";
    return m;
  }
  std::vector<double> diffs;
  bool binary = true;
  double sum_a = 0, sum_b = 0;
  for (const DocValues& d : docs) {
    diffs.push_back(d.b - d.a);
    sum_a += d.a;
    sum_b += d.b;
    binary = binary && IsBinary(d.a) && IsBinary(d.b);
    if (d.a == 1.0 && d.b == 0.0) ++m.right_to_wrong;
    if (d.a == 0.0 && d.b == 1.0) ++m.wrong_to_right;
  }
  const double n = static_cast<double>(docs.size());
  m.mean_a = sum_a / n;
  m.mean_b = sum_b / n;
  m.difference = m.mean_b - m.mean_a;
  if (binary) {
    m.test = "mcnemar";
    m.p_value = McNemarExactP(m.right_to_wrong, m.wrong_to_right);
    m.interval = PairedMeanInterval(diffs);
  } else {
    m.test = "bootstrap";
    BootstrapResult boot = PairedBootstrap(diffs);
    m.p_value = boot.p_value;
    m.interval = boot.interval;
    m.right_to_wrong = m.wrong_to_right = 0;
  }
  return m;
}

// Stored aggregate of (metric, group) in `scores`, if any.
std::optional<double> StoredScore(const std::vector<v1::TaskScores>& scores,
                                  const std::string& task,
                                  const std::string& metric,
                                  const std::string& group) {
  for (const v1::TaskScores& s : scores) {
    if (s.task() != task) continue;
    for (const v1::Metric& m : s.metrics()) {
      if (m.name() == metric && m.group() == group) return m.value();
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<FingerprintDifference> FingerprintDifferences(
    const v1::Fingerprint& a, const v1::Fingerprint& b) {
  std::vector<FingerprintDifference> out;
  Diff(&out, "environment", "driver", a.driver_version(), b.driver_version());
  Diff(&out, "environment", "cuda runtime", a.cuda_runtime_version(),
       b.cuda_runtime_version());
  Diff(&out, "environment", "cuda toolkit", a.cuda_toolkit_version(),
       b.cuda_toolkit_version());
  Diff(&out, "environment", "gpu", GpuNames(a), GpuNames(b));
  Diff(&out, "environment", "cpu", a.cpu_model(), b.cpu_model());
  Diff(&out, "environment", "evald version", a.evald_version(),
       b.evald_version());
  Diff(&out, "environment", "evald commit", a.git_commit(), b.git_commit());
  Diff(&out, "environment", "compiler", a.compiler(), b.compiler());
  Diff(&out, "environment", "build type", a.build_type(), b.build_type());
  Diff(&out, "environment", "decoding", a.decoding_mode(), b.decoding_mode());
  Diff(&out, "environment", "batch invariant",
       a.batch_invariant() ? "yes" : "no", b.batch_invariant() ? "yes" : "no");
  std::map<std::string, const v1::TaskFingerprint*> tasks_b;
  for (const v1::TaskFingerprint& t : b.tasks()) tasks_b[t.name()] = &t;
  for (const v1::TaskFingerprint& ta : a.tasks()) {
    auto it = tasks_b.find(ta.name());
    if (it == tasks_b.end()) continue;
    const v1::TaskFingerprint& tb = *it->second;
    const std::string p = ta.name() + " ";
    Diff(&out, "prompt", p + "version", ta.version(), tb.version());
    Diff(&out, "prompt", p + "shots", absl::StrCat(ta.shots()),
         absl::StrCat(tb.shots()));
    Diff(&out, "prompt", p + "prompt format", ta.prompt_format_hash(),
         tb.prompt_format_hash());
    Diff(&out, "prompt", p + "generation settings", ta.generation_settings(),
         tb.generation_settings());
    Diff(&out, "prompt", p + "seed", absl::StrCat(ta.seed()),
         absl::StrCat(tb.seed()));
    DiffFiles(&out, "dataset", p + "dataset ", FileHashes(ta.dataset_files()),
              FileHashes(tb.dataset_files()));
  }
  std::map<std::string, const v1::ModelFingerprint*> models_b;
  for (const v1::ModelFingerprint& m : b.models()) models_b[m.role()] = &m;
  for (const v1::ModelFingerprint& ma : a.models()) {
    auto it = models_b.find(ma.role());
    if (it == models_b.end()) continue;
    const v1::ModelFingerprint& mb = *it->second;
    const std::string p = ma.role() + " ";
    Diff(&out, "model", p + "path", ma.path(), mb.path());
    Diff(&out, "model", p + "dtype", ma.dtype(), mb.dtype());
    Diff(&out, "model", p + "chat template", ma.chat_template_sha256(),
         mb.chat_template_sha256());
    DiffFiles(&out, "model", p + "file ", FileHashes(ma.files()),
              FileHashes(mb.files()));
  }
  return out;
}

absl::StatusOr<CompareResult> Compare(const RunData& a, const RunData& b) {
  CompareResult result;
  result.differences =
      FingerprintDifferences(a.run.fingerprint(), b.run.fingerprint());
  std::vector<std::string> tasks;
  std::set<std::string> tasks_b;
  for (const v1::TaskSpec& t : b.run.spec().tasks()) tasks_b.insert(t.name());
  for (const v1::TaskSpec& t : a.run.spec().tasks()) {
    if (tasks_b.count(t.name()) > 0) tasks.push_back(t.name());
  }
  if (tasks.empty()) {
    return absl::NotFoundError(absl::StrCat("runs ", a.run.id(), " and ",
                                            b.run.id(), " share no task"));
  }
  // doc id -> sample, per run and task.
  auto index = [](const RunData& r) {
    std::map<std::string, std::map<std::string, const v1::SampleRecord*>> out;
    for (const v1::SampleRecord& s : r.samples) {
      if (s.error().empty()) out[s.task()][s.doc_id()] = &s;
    }
    return out;
  };
  const auto samples_a = index(a);
  const auto samples_b = index(b);
  int64_t total_shared = 0;
  for (const std::string& task : tasks) {
    auto ia = samples_a.find(task);
    auto ib = samples_b.find(task);
    if (ia == samples_a.end() || ib == samples_b.end()) continue;
    // Task-level metrics that are also per-document metrics, in A's order.
    std::vector<std::string> metrics;
    for (const v1::TaskScores& s : a.scores) {
      if (s.task() != task) continue;
      for (const v1::Metric& m : s.metrics()) {
        if (!m.group().empty()) continue;
        if (std::find(metrics.begin(), metrics.end(), m.name()) !=
            metrics.end())
          continue;
        const v1::SampleRecord* any = ia->second.begin()->second;
        if (any->metrics().count(m.name()) > 0) metrics.push_back(m.name());
      }
    }
    for (const std::string& metric : metrics) {
      std::vector<DocValues> all;
      std::map<std::string, std::vector<DocValues>> by_subtask;
      for (const auto& [doc_id, sa] : ia->second) {
        auto jb = ib->second.find(doc_id);
        if (jb == ib->second.end()) continue;
        auto va = sa->metrics().find(metric);
        auto vb = jb->second->metrics().find(metric);
        if (va == sa->metrics().end() || vb == jb->second->metrics().end())
          continue;
        DocValues d{doc_id, va->second, vb->second};
        all.push_back(d);
        if (!sa->subtask().empty()) by_subtask[sa->subtask()].push_back(d);
        if (IsBinary(d.a) && IsBinary(d.b) && d.a != d.b) {
          result.flips.push_back({task, doc_id, metric, d.a, d.b});
        }
      }
      total_shared += static_cast<int64_t>(all.size());
      MetricComparison whole = CompareValues(task, metric, "", all);
      whole.score_a =
          StoredScore(a.scores, task, metric, "").value_or(whole.mean_a);
      whole.score_b =
          StoredScore(b.scores, task, metric, "").value_or(whole.mean_b);
      result.metrics.push_back(whole);
      if (by_subtask.size() > 1) {
        for (const auto& [subtask, docs] : by_subtask) {
          MetricComparison m = CompareValues(task, metric, subtask, docs);
          m.score_a =
              StoredScore(a.scores, task, metric, subtask).value_or(m.mean_a);
          m.score_b =
              StoredScore(b.scores, task, metric, subtask).value_or(m.mean_b);
          result.metrics.push_back(m);
        }
      }
    }
  }
  if (total_shared == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "runs ", a.run.id(), " and ", b.run.id(), " share no scored document"));
  }
  std::vector<double> p;
  for (const MetricComparison& m : result.metrics) p.push_back(m.p_value);
  const std::vector<double> holm = HolmAdjust(p);
  for (size_t i = 0; i < holm.size(); ++i) result.metrics[i].p_holm = holm[i];
  return result;
}

// ---- Gate -------------------------------------------------------------------

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kPass:
      return "PASS";
    case Verdict::kFail:
      return "FAIL";
    case Verdict::kInconclusive:
      return "INCONCLUSIVE";
  }
  return "?";
}

absl::StatusOr<GateRules> ParseGateRules(const std::string& path,
                                         const std::string& text) {
  GateRules rules;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
  if (!root || root.IsNull()) return rules;
  auto where = [&](const YAML::Node& n) {
    return absl::StrCat(path, ":", n.Mark().line + 1, ":", n.Mark().column + 1);
  };
  if (!root.IsMap())
    return absl::InvalidArgumentError(
        absl::StrCat(where(root), ": expected a mapping"));
  auto number = [&](const YAML::Node& n, const std::string& field, double lo,
                    double hi) -> absl::StatusOr<double> {
    double v = 0;
    try {
      v = n.as<double>();
    } catch (const YAML::Exception&) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(n), ": field '", field, "': expected a number"));
    }
    if (!(v >= lo && v <= hi)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(n), ": field '", field, "': ", v, " is outside [",
                       lo, ", ", hi, "]"));
    }
    return v;
  };
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    if (key == "alpha") {
      absl::StatusOr<double> v = number(value, "alpha", 1e-9, 0.5);
      if (!v.ok()) return v.status();
      rules.alpha = *v;
    } else if (key == "max_drop") {
      absl::StatusOr<double> v = number(value, "max_drop", 0, 1e9);
      if (!v.ok()) return v.status();
      rules.default_max_drop = *v;
    } else if (key == "min_shared") {
      absl::StatusOr<double> v = number(value, "min_shared", 0, 1e12);
      if (!v.ok()) return v.status();
      rules.min_shared = static_cast<int64_t>(*v);
    } else if (key == "max_wall_time_ratio") {
      absl::StatusOr<double> v = number(value, "max_wall_time_ratio", 0, 1e9);
      if (!v.ok()) return v.status();
      rules.max_wall_time_ratio = *v;
    } else if (key == "metrics") {
      if (!value.IsMap()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where(value),
            ": field 'metrics': expected a mapping of TASK/METRIC: max drop"));
      }
      for (const auto& m : value) {
        const std::string name = m.first.as<std::string>();
        std::vector<std::string> parts = absl::StrSplit(name, '/');
        if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() ||
            parts[1].empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where(m.first), ": field 'metrics': '", name,
                           "' is not TASK/METRIC or TASK/METRIC/SUBTASK"));
        }
        absl::StatusOr<double> drop =
            number(m.second, "metrics." + name, 0, 1e9);
        if (!drop.ok()) return drop.status();
        rules.metrics.push_back(
            {parts[0], parts[1], parts.size() == 3 ? parts[2] : "", *drop});
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where(entry.first), ": unknown field '", key,
                       "' (known: metrics, max_drop, alpha, min_shared, "
                       "max_wall_time_ratio)"));
    }
  }
  return rules;
}

absl::StatusOr<GateRules> ReadGateRules(const std::string& path) {
  if (path.empty()) return GateRules();
  absl::StatusOr<std::string> text = base::ReadFileToString(path);
  if (!text.ok()) return text.status();
  return ParseGateRules(path, *text);
}

absl::StatusOr<GateResult> EvaluateGate(const RunData& run,
                                        const RunData& baseline,
                                        const GateRules& rules,
                                        bool allow_drift) {
  GateResult result;
  absl::StatusOr<CompareResult> comparison = Compare(baseline, run);
  if (!comparison.ok()) return comparison.status();
  result.comparison = *std::move(comparison);
  for (const FingerprintDifference& d : result.comparison.differences) {
    if (d.kind != "model") result.drift.push_back(d);
  }
  result.drift_allowed = allow_drift;

  // The metric rules, each bound to its comparison.
  std::vector<GateRule> wanted = rules.metrics;
  if (wanted.empty()) {
    for (const MetricComparison& m : result.comparison.metrics) {
      if (m.subtask.empty())
        wanted.push_back({m.task, m.metric, "", rules.default_max_drop});
    }
  }
  std::vector<double> p;
  for (const GateRule& rule : wanted) {
    RuleResult r;
    r.name = absl::StrCat(rule.task, "/", rule.metric,
                          rule.subtask.empty() ? "" : "/", rule.subtask);
    r.max_drop = rule.max_drop;
    for (size_t i = 0; i < result.comparison.metrics.size(); ++i) {
      const MetricComparison& m = result.comparison.metrics[i];
      if (m.task == rule.task && m.metric == rule.metric &&
          m.subtask == rule.subtask) {
        r.comparison = static_cast<int>(i);
      }
    }
    if (r.comparison < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gate rule '", r.name, "': no such metric in both runs (compared: ",
          absl::StrJoin(result.comparison.metrics, ", ",
                        [](std::string* out, const MetricComparison& m) {
                          absl::StrAppend(out, m.task, "/", m.metric,
                                          m.subtask.empty() ? "" : "/",
                                          m.subtask);
                        }),
          ")"));
    }
    p.push_back(result.comparison.metrics[r.comparison].p_value);
    result.rules.push_back(std::move(r));
  }
  const std::vector<double> holm = HolmAdjust(p);
  for (size_t i = 0; i < result.rules.size(); ++i) {
    RuleResult& r = result.rules[i];
    const MetricComparison& m = result.comparison.metrics[r.comparison];
    const double drop = m.mean_a - m.mean_b;
    if (m.shared < rules.min_shared) {
      r.verdict = Verdict::kInconclusive;
      r.detail = absl::StrFormat("only %d shared documents (min_shared %d)",
                                 m.shared, rules.min_shared);
    } else if (drop <= r.max_drop) {
      r.verdict = Verdict::kPass;
      r.detail = absl::StrFormat("change %+.4f within the allowed drop %.4f",
                                 -drop, r.max_drop);
    } else if (holm[i] < rules.alpha) {
      r.verdict = Verdict::kFail;
      r.detail = absl::StrFormat(
          "dropped %.4f > %.4f, p = %.3g after Holm < alpha %.3g", drop,
          r.max_drop, holm[i], rules.alpha);
    } else {
      r.verdict = Verdict::kInconclusive;
      r.detail = absl::StrFormat(
          "dropped %.4f > %.4f but p = %.3g after Holm >= alpha %.3g", drop,
          r.max_drop, holm[i], rules.alpha);
    }
  }
  if (rules.max_wall_time_ratio > 0) {
    RuleResult r;
    r.name = "wall_time";
    const double base = baseline.run.phases().total_s();
    const double now = run.run.phases().total_s();
    if (base <= 0) {
      r.verdict = Verdict::kInconclusive;
      r.detail = "the baseline has no recorded wall time";
    } else {
      const double ratio = now / base;
      r.verdict =
          ratio > rules.max_wall_time_ratio ? Verdict::kFail : Verdict::kPass;
      r.detail = absl::StrFormat("%.1f s vs %.1f s: ratio %.2f (max %.2f)", now,
                                 base, ratio, rules.max_wall_time_ratio);
    }
    result.rules.push_back(std::move(r));
  }
  bool any_fail = !result.drift.empty() && !allow_drift;
  bool any_inconclusive = false;
  for (const RuleResult& r : result.rules) {
    any_fail = any_fail || r.verdict == Verdict::kFail;
    any_inconclusive = any_inconclusive || r.verdict == Verdict::kInconclusive;
  }
  result.overall = any_fail           ? Verdict::kFail
                   : any_inconclusive ? Verdict::kInconclusive
                                      : Verdict::kPass;
  return result;
}

namespace {

std::string DriftText(const FingerprintDifference& d) {
  return absl::StrCat(d.kind, ": ", d.field, ": ", d.a, " -> ", d.b);
}

}  // namespace

std::string GateJunitXml(const GateResult& result, const std::string& run_id,
                         const std::string& baseline_id) {
  int failures = 0, skipped = 0;
  for (const RuleResult& r : result.rules) {
    failures += r.verdict == Verdict::kFail;
    skipped += r.verdict == Verdict::kInconclusive;
  }
  const bool drift_fails = !result.drift.empty() && !result.drift_allowed;
  const int tests =
      static_cast<int>(result.rules.size()) + (result.drift.empty() ? 0 : 1);
  failures += drift_fails;
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  absl::StrAppend(
      &out, "<testsuites>\n  <testsuite name=\"",
      EscapeXml(absl::StrCat("evald gate ", run_id, " vs ", baseline_id)),
      "\" tests=\"", tests, "\" failures=\"", failures, "\" skipped=\"",
      skipped, "\">\n");
  if (!result.drift.empty()) {
    std::vector<std::string> lines;
    for (const FingerprintDifference& d : result.drift)
      lines.push_back(DriftText(d));
    absl::StrAppend(
        &out, "    <testcase classname=\"evald.gate\" name=\"environment\">\n");
    const std::string text = absl::StrJoin(lines, "\n");
    if (drift_fails) {
      absl::StrAppend(&out,
                      "      <failure message=\"the baseline ran in a "
                      "different environment\">",
                      EscapeXml(text), "</failure>\n");
    } else {
      absl::StrAppend(&out, "      <system-out>",
                      EscapeXml("allowed drift:\n" + text), "</system-out>\n");
    }
    absl::StrAppend(&out, "    </testcase>\n");
  }
  for (const RuleResult& r : result.rules) {
    absl::StrAppend(&out, "    <testcase classname=\"evald.gate\" name=\"",
                    EscapeXml(r.name), "\">\n");
    if (r.verdict == Verdict::kFail) {
      absl::StrAppend(&out, "      <failure message=\"", EscapeXml(r.detail),
                      "\"/>\n");
    } else if (r.verdict == Verdict::kInconclusive) {
      absl::StrAppend(&out, "      <skipped message=\"",
                      EscapeXml("inconclusive: " + r.detail), "\"/>\n");
    } else {
      absl::StrAppend(&out, "      <system-out>", EscapeXml(r.detail),
                      "</system-out>\n");
    }
    absl::StrAppend(&out, "    </testcase>\n");
  }
  absl::StrAppend(&out, "  </testsuite>\n</testsuites>\n");
  return out;
}

std::string GateMarkdown(const GateResult& result, const std::string& run_id,
                         const std::string& baseline_id) {
  std::string out =
      absl::StrCat("## evald gate: ", VerdictName(result.overall), "\n\n`",
                   EscapeMarkdown(run_id), "` against baseline `",
                   EscapeMarkdown(baseline_id), "`\n\n");
  if (!result.drift.empty()) {
    absl::StrAppend(&out, result.drift_allowed
                              ? "**Environment drift (allowed):**\n\n"
                              : "**Environment drift (fails the gate):**\n\n");
    for (const FingerprintDifference& d : result.drift) {
      absl::StrAppend(&out, "- ", EscapeMarkdown(DriftText(d)), "\n");
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out,
                  "| rule | baseline | run | change | 95% CI | p (Holm) | "
                  "shared | verdict |\n"
                  "|---|---:|---:|---:|---|---:|---:|---|\n");
  std::vector<double> p;
  for (const RuleResult& r : result.rules) {
    if (r.comparison >= 0)
      p.push_back(result.comparison.metrics[r.comparison].p_value);
  }
  const std::vector<double> holm = HolmAdjust(p);
  size_t k = 0;
  for (const RuleResult& r : result.rules) {
    if (r.comparison < 0) {
      absl::StrAppend(&out, "| ", EscapeMarkdown(r.name), " | | | | | | | **",
                      VerdictName(r.verdict), "** ", EscapeMarkdown(r.detail),
                      " |\n");
      continue;
    }
    const MetricComparison& m = result.comparison.metrics[r.comparison];
    absl::StrAppendFormat(
        &out,
        "| %s | %.4f | %.4f | %+.4f | [%+.4f, %+.4f] | %.3g | %d | **%s** |\n",
        EscapeMarkdown(r.name), m.mean_a, m.mean_b, m.difference,
        m.interval.low, m.interval.high, holm[k++], m.shared,
        VerdictName(r.verdict));
  }
  return out;
}

}  // namespace evald::report
