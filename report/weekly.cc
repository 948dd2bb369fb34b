// File: report/weekly.cc
#include "report/weekly.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "base/natural_order.h"
#include "report/text.h"

namespace evald::report {
namespace {

constexpr double kZ95 = 1.959963984540054;
constexpr size_t kMovedPerTask = 10;

std::string TimeText(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%d %H:%M", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

std::string Checkpoint(const v1::RunRecord& run) {
  auto it = run.spec().labels().find("checkpoint");
  return it == run.spec().labels().end() ? "" : it->second;
}

// Orders runs by numeric checkpoint when every run has one; else, when
// every run has a checkpoint label (a sweep's "step-900", "step-1200"), in
// natural order, digit runs by value; else by submission time.
void SortRuns(std::vector<RunData>* runs) {
  bool numeric = true;
  bool named = true;
  for (const RunData& r : *runs) {
    double v = 0;
    numeric = numeric && absl::SimpleAtod(Checkpoint(r.run), &v);
    named = named && !Checkpoint(r.run).empty();
  }
  std::stable_sort(runs->begin(), runs->end(),
                   [numeric, named](const RunData& a, const RunData& b) {
                     if (numeric) {
                       double x = 0, y = 0;
                       (void)absl::SimpleAtod(Checkpoint(a.run), &x);
                       (void)absl::SimpleAtod(Checkpoint(b.run), &y);
                       if (x != y) return x < y;
                     } else if (named) {
                       const std::string x = Checkpoint(a.run),
                                         y = Checkpoint(b.run);
                       if (x != y) return base::NaturalLess(x, y);
                     }
                     return a.run.created_unix_ms() < b.run.created_unix_ms();
                   });
}

bool HasTask(const RunData& r, const std::string& task) {
  for (const v1::TaskSpec& t : r.run.spec().tasks()) {
    if (t.name() == task) return true;
  }
  return false;
}

std::string Seconds(double s) { return absl::StrFormat("%.1f", s); }

}  // namespace

absl::StatusOr<Report> BuildReport(std::vector<RunData> runs,
                                   const GateRules& rules,
                                   int64_t since_unix_ms,
                                   int64_t until_unix_ms) {
  if (runs.empty()) {
    return absl::NotFoundError(absl::StrCat("report: no runs between ",
                                            TimeText(since_unix_ms), " and ",
                                            TimeText(until_unix_ms), " UTC"));
  }
  SortRuns(&runs);
  Report report;
  report.since_unix_ms = since_unix_ms;
  report.until_unix_ms = until_unix_ms;
  report.title = absl::StrCat("evald report ", TimeText(since_unix_ms), " to ",
                              TimeText(until_unix_ms), " UTC");
  std::vector<const RunData*> done;
  for (const RunData& r : runs) {
    RunRow row;
    row.id = r.run.id();
    row.name = r.run.spec().name();
    row.checkpoint = Checkpoint(r.run);
    row.state = RunStateText(r.run.state());
    row.created_unix_ms = r.run.created_unix_ms();
    row.drifted = r.run.drifted();
    row.phases = r.run.phases();
    if (r.run.stats().prompt_tokens() > 0) {
      row.cache_hit_rate =
          static_cast<double>(r.run.stats().cached_prompt_tokens()) /
          static_cast<double>(r.run.stats().prompt_tokens());
    }
    report.runs.push_back(row);
    if (r.run.state() == v1::SUCCEEDED) done.push_back(&r);
  }

  // Trends: task-level metrics, in the order they first appear.
  std::vector<std::pair<std::string, std::string>> keys;
  for (const RunData* r : done) {
    for (const v1::TaskScores& s : r->scores) {
      for (const v1::Metric& m : s.metrics()) {
        if (!m.group().empty()) continue;
        auto key = std::make_pair(s.task(), m.name());
        if (std::find(keys.begin(), keys.end(), key) == keys.end())
          keys.push_back(key);
      }
    }
  }
  for (const auto& [task, metric] : keys) {
    Trend trend{task, metric, {}};
    for (const RunData* r : done) {
      for (const v1::TaskScores& s : r->scores) {
        if (s.task() != task) continue;
        for (const v1::Metric& m : s.metrics()) {
          if (m.name() != metric || !m.group().empty()) continue;
          const std::string cp = Checkpoint(r->run);
          trend.points.push_back(
              {r->run.id(),
               cp.empty() ? TimeText(r->run.created_unix_ms()) : cp, m.value(),
               m.std_error()});
        }
      }
    }
    report.trends.push_back(std::move(trend));
  }

  // Consecutive pairs: regressions by the gate rules and environment changes.
  for (size_t i = 1; i < done.size(); ++i) {
    const RunData& prev = *done[i - 1];
    const RunData& cur = *done[i];
    for (const FingerprintDifference& d : FingerprintDifferences(
             prev.run.fingerprint(), cur.run.fingerprint())) {
      if (d.kind != "model")
        report.env_changes.push_back({prev.run.id(), cur.run.id(), d});
    }
    GateRules pair_rules = rules;
    pair_rules.metrics.clear();
    for (const GateRule& rule : rules.metrics) {
      if (HasTask(prev, rule.task) && HasTask(cur, rule.task))
        pair_rules.metrics.push_back(rule);
    }
    if (!rules.metrics.empty() && pair_rules.metrics.empty()) continue;
    absl::StatusOr<GateResult> gate =
        EvaluateGate(cur, prev, pair_rules, /*allow_drift=*/true);
    if (!gate.ok()) continue;  // no shared documents: nothing to test
    for (const RuleResult& r : gate->rules) {
      if (r.verdict == Verdict::kPass) continue;
      report.regressions.push_back(
          {r.name, prev.run.id(), cur.run.id(), r.verdict, r.detail});
    }
  }

  // Documents that moved between the first and the last run of each task.
  std::set<std::string> tasks;
  for (const RunData* r : done) {
    for (const v1::TaskSpec& t : r->run.spec().tasks()) tasks.insert(t.name());
  }
  for (const std::string& task : tasks) {
    const RunData* first = nullptr;
    const RunData* last = nullptr;
    for (const RunData* r : done) {
      if (!HasTask(*r, task)) continue;
      if (first == nullptr) first = r;
      last = r;
    }
    if (first == nullptr || first == last) continue;
    absl::StatusOr<CompareResult> cmp = Compare(*first, *last);
    if (!cmp.ok()) continue;
    size_t up = 0, down = 0;
    for (const Flip& f : cmp->flips) {
      if (f.task != task) continue;
      MovedDocument doc{task, f.metric, f.doc_id, f.a, f.b};
      if (f.b > f.a && up < kMovedPerTask) {
        report.improved.push_back(doc);
        ++up;
      } else if (f.b < f.a && down < kMovedPerTask) {
        report.worsened.push_back(doc);
        ++down;
      }
    }
  }
  return report;
}

namespace {

// An inline SVG line chart of one trend with a +-1.96 stderr band.
std::string TrendSvg(const Trend& t) {
  const double w = 640, h = 230, left = 52, right = 16, top = 26, bottom = 46;
  double lo = INFINITY, hi = -INFINITY;
  for (const TrendPoint& p : t.points) {
    lo = std::min(lo, p.value - kZ95 * p.stderr_value);
    hi = std::max(hi, p.value + kZ95 * p.stderr_value);
  }
  if (!(hi > lo)) {
    lo -= 0.05;
    hi += 0.05;
  }
  const double pad = (hi - lo) * 0.1;
  lo -= pad;
  hi += pad;
  const size_t n = t.points.size();
  auto x = [&](size_t i) {
    return n == 1 ? left + (w - left - right) / 2
                  : left + (w - left - right) * static_cast<double>(i) /
                               static_cast<double>(n - 1);
  };
  auto y = [&](double v) {
    return top + (h - top - bottom) * (hi - v) / (hi - lo);
  };
  std::string svg = absl::StrFormat(
      "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "
      "%.0f %.0f\" "
      "width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"%s\">\n",
      w, h, w, h, EscapeXml(t.task + " " + t.metric));
  absl::StrAppendFormat(
      &svg, "<text x=\"%.0f\" y=\"16\" class=\"title\">%s / %s</text>\n", left,
      EscapeXml(t.task), EscapeXml(t.metric));
  for (int k = 0; k <= 4; ++k) {
    const double v = lo + (hi - lo) * k / 4.0;
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
        "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" "
        "text-anchor=\"end\">%.3f</text>\n",
        left, w - right, y(v), y(v), left - 6, y(v) + 4, v);
  }
  std::string band_top, band_bottom, line;
  for (size_t i = 0; i < n; ++i) {
    const TrendPoint& p = t.points[i];
    absl::StrAppendFormat(&band_top, "%.1f,%.1f ", x(i),
                          y(p.value + kZ95 * p.stderr_value));
    band_bottom = absl::StrFormat("%.1f,%.1f ", x(i),
                                  y(p.value - kZ95 * p.stderr_value)) +
                  band_bottom;
    absl::StrAppendFormat(&line, "%.1f,%.1f ", x(i), y(p.value));
  }
  if (n > 1) {
    absl::StrAppendFormat(&svg, "<polygon class=\"band\" points=\"%s%s\"/>\n",
                          band_top, band_bottom);
    absl::StrAppendFormat(&svg, "<polyline class=\"line\" points=\"%s\"/>\n",
                          line);
  }
  const size_t label_every = std::max<size_t>(1, (n + 9) / 10);
  for (size_t i = 0; i < n; ++i) {
    const TrendPoint& p = t.points[i];
    absl::StrAppendFormat(
        &svg,
        "<line class=\"err\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
        "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\"><title>%s: "
        "%.4f "
        "&#177; %.4f</title></circle>\n",
        x(i), x(i), y(p.value + kZ95 * p.stderr_value),
        y(p.value - kZ95 * p.stderr_value), x(i), y(p.value),
        EscapeXml(p.x_label), p.value, kZ95 * p.stderr_value);
    if (i % label_every == 0 || i + 1 == n) {
      std::string label =
          p.x_label.size() > 16 ? p.x_label.substr(0, 16) : p.x_label;
      absl::StrAppendFormat(&svg,
                            "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" "
                            "text-anchor=\"middle\">%s</text>\n",
                            x(i), h - bottom + 16, EscapeXml(label));
    }
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.1f\" y=\"%.1f\" class=\"axis\" "
                        "text-anchor=\"middle\">checkpoint</text>\n",
                        left + (w - left - right) / 2, h - 8);
  svg += "</svg>\n";
  return svg;
}

constexpr char kCss[] = R"css(
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1a1a1a;
       background: #fff; max-width: 980px; margin: 24px auto; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px;
     border-bottom: 1px solid #ccc; padding-bottom: 4px; }
.sub { color: #555; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 8px 0 16px; }
th, td { border: 1px solid #d0d0d0; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.fail { color: #b00020; font-weight: 600; } .inconclusive { color: #8a6d00; font-weight: 600; }
.chart { display: block; margin: 6px 0 2px; max-width: 100%; height: auto; }
.chart .title { font-size: 13px; font-weight: 600; fill: #1a1a1a; }
.chart .grid { stroke: #e4e4e4; stroke-width: 1; } .chart .tick { font-size: 10px; fill: #555; }
.chart .axis { font-size: 11px; fill: #555; } .chart .band { fill: #9ecae1; fill-opacity: 0.45; stroke: none; }
.chart .line { fill: none; stroke: #1f5fa8; stroke-width: 2; } .chart .pt { fill: #1f5fa8; }
.chart .err { stroke: #1f5fa8; stroke-width: 1; }
.trend { page-break-inside: avoid; break-inside: avoid; }
code { font-size: 12px; }
@media print { body { margin: 0; max-width: none; } h2 { page-break-after: avoid; }
  table, .trend { page-break-inside: avoid; } a { color: inherit; text-decoration: none; } }
)css";

}  // namespace

std::string RenderHtml(const Report& r) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  absl::StrAppend(&out, "<title>", EscapeXml(r.title), "</title>\n<style>",
                  kCss, "</style>\n</head>\n<body>\n");
  absl::StrAppend(&out, "<h1>", EscapeXml(r.title), "</h1>\n<p class=\"sub\">",
                  r.runs.size(), " runs, ", r.trends.size(), " task metrics, ",
                  r.regressions.size(), " flagged changes, ",
                  r.env_changes.size(), " environment changes</p>\n");

  absl::StrAppend(
      &out,
      "<h2>Runs</h2>\n<table class=\"runs\"><tr><th>run</th><th>suite</th>"
      "<th>checkpoint</th><th>state</th><th>submitted (UTC)</th>"
      "<th>wall s</th><th>load s</th><th>prefill s</th><th>decode s</th>"
      "<th>scoring s</th><th>judge s</th><th>prefix-cache hits</th></tr>\n");
  for (const RunRow& row : r.runs) {
    absl::StrAppend(&out, "<tr><td><code>", EscapeXml(row.id), "</code>",
                    row.drifted ? " (drifted)" : "", "</td><td>",
                    EscapeXml(row.name), "</td><td>", EscapeXml(row.checkpoint),
                    "</td><td>", EscapeXml(row.state), "</td><td>",
                    TimeText(row.created_unix_ms), "</td>");
    for (double s : {row.phases.total_s(), row.phases.model_load_s(),
                     row.phases.prefill_s(), row.phases.decode_s(),
                     row.phases.scoring_s(), row.phases.judge_s()}) {
      absl::StrAppend(&out, "<td class=\"num\">", Seconds(s), "</td>");
    }
    absl::StrAppendFormat(&out, "<td class=\"num\">%.1f%%</td></tr>\n",
                          100 * row.cache_hit_rate);
  }
  absl::StrAppend(
      &out,
      "</table>\n<h2>Scores over checkpoints</h2>\n<p class=\"sub\">Bands: "
      "95% intervals (&#177;1.96 standard errors).</p>\n");
  for (const Trend& t : r.trends) {
    absl::StrAppend(
        &out, "<div class=\"trend\">\n", TrendSvg(t),
        "<table "
        "class=\"scores\"><tr><th>checkpoint</th><th>run</th><th>value</th>"
        "<th>95% interval</th></tr>\n");
    for (const TrendPoint& p : t.points) {
      absl::StrAppendFormat(
          &out,
          "<tr><td>%s</td><td><code>%s</code></td><td class=\"num\">%.4f</td>"
          "<td class=\"num\">[%.4f, %.4f]</td></tr>\n",
          EscapeXml(p.x_label), EscapeXml(p.run_id), p.value,
          p.value - kZ95 * p.stderr_value, p.value + kZ95 * p.stderr_value);
    }
    absl::StrAppend(&out, "</table>\n</div>\n");
  }
  absl::StrAppend(&out, "<h2>Regressions between consecutive runs</h2>\n");
  if (r.regressions.empty()) {
    absl::StrAppend(
        &out,
        "<p>None: every gate rule passed between consecutive runs.</p>\n");
  } else {
    absl::StrAppend(
        &out,
        "<table "
        "class=\"regressions\"><tr><th>metric</th><th>from</th><th>to</th>"
        "<th>verdict</th><th>detail</th></tr>\n");
    for (const Regression& g : r.regressions) {
      const bool fail = g.verdict == Verdict::kFail;
      absl::StrAppend(
          &out, "<tr><td>", EscapeXml(g.task_metric), "</td><td><code>",
          EscapeXml(g.from_run), "</code></td><td><code>", EscapeXml(g.to_run),
          "</code></td><td class=\"", fail ? "fail" : "inconclusive", "\">",
          VerdictName(g.verdict), "</td><td>", EscapeXml(g.detail),
          "</td></tr>\n");
    }
    absl::StrAppend(&out, "</table>\n");
  }
  absl::StrAppend(&out, "<h2>Environment changes</h2>\n");
  if (r.env_changes.empty()) {
    absl::StrAppend(&out,
                    "<p>None between consecutive runs (driver, CUDA, datasets, "
                    "prompts).</p>\n");
  } else {
    absl::StrAppend(
        &out,
        "<table class=\"env\"><tr><th>from</th><th>to</th><th>kind</th>"
        "<th>field</th><th>before</th><th>after</th></tr>\n");
    for (const EnvChange& e : r.env_changes) {
      absl::StrAppend(&out, "<tr><td><code>", EscapeXml(e.from_run),
                      "</code></td><td><code>", EscapeXml(e.to_run),
                      "</code></td><td>", EscapeXml(e.difference.kind),
                      "</td><td>", EscapeXml(e.difference.field), "</td><td>",
                      EscapeXml(e.difference.a), "</td><td>",
                      EscapeXml(e.difference.b), "</td></tr>\n");
    }
    absl::StrAppend(&out, "</table>\n");
  }
  absl::StrAppend(
      &out, "<h2>Documents that moved (first vs last run of each task)</h2>\n");
  for (const auto& [title, docs] :
       {std::make_pair("Worsened (right to wrong)", &r.worsened),
        std::make_pair("Improved (wrong to right)", &r.improved)}) {
    absl::StrAppend(&out, "<h3>", title, "</h3>\n");
    if (docs->empty()) {
      absl::StrAppend(&out, "<p>None.</p>\n");
      continue;
    }
    absl::StrAppend(
        &out,
        "<table "
        "class=\"moved\"><tr><th>task</th><th>metric</th><th>document</th>"
        "<th>first</th><th>last</th></tr>\n");
    for (const MovedDocument& d : *docs) {
      absl::StrAppendFormat(&out,
                            "<tr><td>%s</td><td>%s</td><td><code>%s</code></"
                            "td><td class=\"num\">%g"
                            "</td><td class=\"num\">%g</td></tr>\n",
                            EscapeXml(d.task), EscapeXml(d.metric),
                            EscapeXml(d.doc_id), d.first, d.last);
    }
    absl::StrAppend(&out, "</table>\n");
  }
  absl::StrAppend(&out, "</body>\n</html>\n");
  return out;
}

std::string RenderMarkdown(const Report& r) {
  std::string out = absl::StrCat("# ", EscapeMarkdown(r.title), "\n\n",
                                 r.runs.size(), " runs, ", r.trends.size(),
                                 " task metrics, ", r.regressions.size(),
                                 " flagged changes, ", r.env_changes.size(),
                                 " environment changes.\n\n## Runs\n\n");
  absl::StrAppend(
      &out,
      "| run | suite | checkpoint | state | submitted (UTC) | wall s | load s "
      "| "
      "prefill s | decode s | scoring s | judge s | prefix-cache hits |\n"
      "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const RunRow& row : r.runs) {
    absl::StrAppend(&out, "| `", row.id, "`", row.drifted ? " (drifted)" : "",
                    " | ", EscapeMarkdown(row.name), " | ",
                    EscapeMarkdown(row.checkpoint), " | ", row.state, " | ",
                    TimeText(row.created_unix_ms));
    for (double s : {row.phases.total_s(), row.phases.model_load_s(),
                     row.phases.prefill_s(), row.phases.decode_s(),
                     row.phases.scoring_s(), row.phases.judge_s()}) {
      absl::StrAppend(&out, " | ", Seconds(s));
    }
    absl::StrAppendFormat(&out, " | %.1f%% |\n", 100 * row.cache_hit_rate);
  }
  absl::StrAppend(&out,
                  "\n## Scores over checkpoints\n\n95% intervals: +-1.96 "
                  "standard errors.\n");
  for (const Trend& t : r.trends) {
    absl::StrAppend(&out, "\n### ", EscapeMarkdown(t.task), " / ",
                    EscapeMarkdown(t.metric),
                    "\n\n| checkpoint | run | value | 95% interval "
                    "|\n|---|---|---:|---|\n");
    for (const TrendPoint& p : t.points) {
      absl::StrAppendFormat(&out, "| %s | `%s` | %.4f | [%.4f, %.4f] |\n",
                            EscapeMarkdown(p.x_label), p.run_id, p.value,
                            p.value - kZ95 * p.stderr_value,
                            p.value + kZ95 * p.stderr_value);
    }
  }
  absl::StrAppend(&out, "\n## Regressions between consecutive runs\n\n");
  if (r.regressions.empty()) {
    absl::StrAppend(&out,
                    "None: every gate rule passed between consecutive runs.\n");
  } else {
    absl::StrAppend(
        &out,
        "| metric | from | to | verdict | detail |\n|---|---|---|---|---|\n");
    for (const Regression& g : r.regressions) {
      absl::StrAppend(&out, "| ", EscapeMarkdown(g.task_metric), " | `",
                      g.from_run, "` | `", g.to_run, "` | **",
                      VerdictName(g.verdict), "** | ", EscapeMarkdown(g.detail),
                      " |\n");
    }
  }
  absl::StrAppend(&out, "\n## Environment changes\n\n");
  if (r.env_changes.empty()) {
    absl::StrAppend(
        &out,
        "None between consecutive runs (driver, CUDA, datasets, prompts).\n");
  } else {
    absl::StrAppend(&out,
                    "| from | to | kind | field | before | after "
                    "|\n|---|---|---|---|---|---|\n");
    for (const EnvChange& e : r.env_changes) {
      absl::StrAppend(&out, "| `", e.from_run, "` | `", e.to_run, "` | ",
                      e.difference.kind, " | ",
                      EscapeMarkdown(e.difference.field), " | ",
                      EscapeMarkdown(e.difference.a), " | ",
                      EscapeMarkdown(e.difference.b), " |\n");
    }
  }
  absl::StrAppend(
      &out, "\n## Documents that moved (first vs last run of each task)\n");
  for (const auto& [title, docs] :
       {std::make_pair("Worsened (right to wrong)", &r.worsened),
        std::make_pair("Improved (wrong to right)", &r.improved)}) {
    absl::StrAppend(&out, "\n### ", title, "\n\n");
    if (docs->empty()) {
      absl::StrAppend(&out, "None.\n");
      continue;
    }
    absl::StrAppend(&out,
                    "| task | metric | document | first | last "
                    "|\n|---|---|---|---:|---:|\n");
    for (const MovedDocument& d : *docs) {
      absl::StrAppendFormat(&out, "| %s | %s | %s | %g | %g |\n",
                            EscapeMarkdown(d.task), EscapeMarkdown(d.metric),
                            EscapeMarkdown(d.doc_id), d.first, d.last);
    }
  }
  return out;
}

}  // namespace evald::report
