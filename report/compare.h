// File: report/compare.h
// -----------------------------------------------------------------------------
// Comparing two stored runs (`evalctl compare`) and gating one against a
// baseline (`evalctl gate`). Pure functions over the stored records: the
// caller reads them (from the daemon or the store) into RunData.
//
// Comparison. For every task both runs have, every task-level metric that is
// also a per-document metric (acc, exact_match,strict-match,
// prompt_level_strict_acc, ...) is compared on the documents both runs
// scored, for the task as a whole and per subtask (e.g. MMLU subject):
// both means, the difference B - A with a 95% interval, and a paired p-value
// (McNemar's exact test when every value is 0 or 1, else a paired bootstrap
// with a fixed seed). The p-values of all comparisons are Holm-adjusted
// together.
//
// Thread-safety: stateless functions.
#ifndef EVALD_REPORT_COMPARE_H_
#define EVALD_REPORT_COMPARE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/store.pb.h"
#include "report/stats.h"

namespace evald::report {

struct RunData {
  v1::RunRecord run;
  std::vector<v1::TaskScores> scores;
  std::vector<v1::SampleRecord> samples;
};

// One field of the fingerprints that differs. `kind`: "environment" (driver,
// CUDA, GPU, CPU, evald build, decoding), "dataset" (dataset file hashes),
// "prompt" (task version, shots, prompt format, generation settings, seed)
// or "model" (weights, dtype, chat template).
struct FingerprintDifference {
  std::string kind;
  std::string field;
  std::string a;
  std::string b;
};
std::vector<FingerprintDifference> FingerprintDifferences(
    const v1::Fingerprint& a, const v1::Fingerprint& b);

struct MetricComparison {
  std::string task;
  std::string metric;
  std::string subtask;  // "" for the whole task
  double score_a = 0;   // the stored aggregate (all of A's documents)
  double score_b = 0;
  int64_t shared = 0;  // documents scored in both runs
  double mean_a = 0;   // over the shared documents
  double mean_b = 0;
  double difference = 0;  // mean_b - mean_a
  Interval interval;      // 95% interval of the difference
  std::string test;  // "mcnemar" | "bootstrap" | "none" (no shared documents)
  double p_value = 1;
  double p_holm = 1;
  int64_t right_to_wrong = 0;  // 0/1 metrics: A had 1, B has 0
  int64_t wrong_to_right = 0;
};

struct Flip {
  std::string task;
  std::string doc_id;
  std::string metric;
  double a = 0;
  double b = 0;
};

struct CompareResult {
  std::vector<FingerprintDifference> differences;
  std::vector<MetricComparison> metrics;  // task order of A, whole task first
  std::vector<Flip> flips;                // task-level 0/1 metrics only
};

// NotFound when the runs share no task; InvalidArgument when they share
// tasks but no scored document.
absl::StatusOr<CompareResult> Compare(const RunData& a, const RunData& b);

// ---- Gate -------------------------------------------------------------------

struct GateRule {
  std::string task;
  std::string metric;
  std::string subtask;     // "" for the whole task
  double max_drop = 0.01;  // largest allowed drop, absolute (0.01 = 1 point)
};

struct GateRules {
  std::vector<GateRule> metrics;  // empty: every task-level metric compared
  double default_max_drop = 0.01;
  double alpha = 0.05;             // significance level after Holm
  int64_t min_shared = 20;         // fewer shared documents: inconclusive
  double max_wall_time_ratio = 0;  // 0: no wall-time rule
};

// The rules file (YAML, documented in docs/gate.md); errors name the file,
// line and column or the field.
absl::StatusOr<GateRules> ParseGateRules(const std::string& path,
                                         const std::string& text);
// Reads and parses a rules file; "" gives the defaults.
absl::StatusOr<GateRules> ReadGateRules(const std::string& path);

enum class Verdict { kPass, kFail, kInconclusive };
const char* VerdictName(Verdict verdict);

struct RuleResult {
  std::string name;  // "mmlu/acc", "mmlu/acc/anatomy", "wall_time"
  Verdict verdict = Verdict::kPass;
  std::string detail;
  int comparison =
      -1;  // metric rules: index into GateResult.comparison.metrics
  double max_drop = 0;
};

struct GateResult {
  Verdict overall = Verdict::kPass;
  std::vector<RuleResult> rules;
  // Environment, dataset or prompt differences with the baseline; they fail
  // the gate unless allow_drift.
  std::vector<FingerprintDifference> drift;
  bool drift_allowed = false;
  CompareResult comparison;  // baseline = A, candidate run = B
};

absl::StatusOr<GateResult> EvaluateGate(const RunData& run,
                                        const RunData& baseline,
                                        const GateRules& rules,
                                        bool allow_drift);

std::string GateJunitXml(const GateResult& result, const std::string& run_id,
                         const std::string& baseline_id);
std::string GateMarkdown(const GateResult& result, const std::string& run_id,
                         const std::string& baseline_id);

}  // namespace evald::report

#endif  // EVALD_REPORT_COMPARE_H_
