// File: report/weekly.h
// -----------------------------------------------------------------------------
// The research report (`evalctl report`): every run of a time window, score
// trends per task over checkpoints with confidence bands, regressions between
// consecutive runs found by the gate rules, environment changes, wall time per
// phase with prefix-cache hit rates, and the documents that moved most.
//
// BuildReport() turns stored runs into a Report; RenderHtml() makes one
// self-contained HTML file (inline CSS and SVG, nothing external, print
// styles) and RenderMarkdown() the same tables in GitHub-flavoured Markdown.
// Everything taken from the store is escaped for its output format.
//
// Thread-safety: stateless functions.
#ifndef EVALD_REPORT_WEEKLY_H_
#define EVALD_REPORT_WEEKLY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "report/compare.h"

namespace evald::report {

struct TrendPoint {
  std::string run_id;
  std::string x_label;  // checkpoint label, else the submission time
  double value = 0;
  double stderr_value = 0;
};

struct Trend {
  std::string task;
  std::string metric;
  std::vector<TrendPoint> points;  // in checkpoint (else time) order
};

struct Regression {
  std::string task_metric;  // "mmlu/acc"
  std::string from_run;
  std::string to_run;
  Verdict verdict = Verdict::kPass;
  std::string detail;
};

struct EnvChange {
  std::string from_run;
  std::string to_run;
  FingerprintDifference difference;
};

struct MovedDocument {
  std::string task;
  std::string metric;
  std::string doc_id;
  double first = 0;  // in the first run of the window with the task
  double last = 0;   // in the last
};

struct RunRow {
  std::string id;
  std::string name;
  std::string checkpoint;
  std::string state;
  int64_t created_unix_ms = 0;
  bool drifted = false;
  v1::PhaseTimes phases;
  double cache_hit_rate = 0;  // cached / prompt tokens
};

struct Report {
  std::string title;
  int64_t since_unix_ms = 0;
  int64_t until_unix_ms = 0;
  std::vector<RunRow> runs;  // in checkpoint (else time) order
  std::vector<Trend> trends;
  std::vector<Regression> regressions;  // FAIL and INCONCLUSIVE only
  std::vector<EnvChange> env_changes;
  std::vector<MovedDocument> improved;  // wrong -> right, at most 10 per task
  std::vector<MovedDocument> worsened;  // right -> wrong
};

// `runs` are every run of the window (any order). NotFound when empty.
absl::StatusOr<Report> BuildReport(std::vector<RunData> runs,
                                   const GateRules& rules,
                                   int64_t since_unix_ms,
                                   int64_t until_unix_ms);

std::string RenderHtml(const Report& report);
std::string RenderMarkdown(const Report& report);

}  // namespace evald::report

#endif  // EVALD_REPORT_WEEKLY_H_
