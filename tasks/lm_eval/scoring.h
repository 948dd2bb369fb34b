// File: tasks/lm_eval/scoring.h
// -----------------------------------------------------------------------------
// The pieces of lm-evaluation-harness's ConfigurableTask that turn template
// output and model responses into values and scores, kept apart from the
// Task so they can be tested one by one:
//   - ParsePythonLiteral: `ast.literal_eval` of what doc_to_choice /
//     doc_to_target templates render (lists, strings, numbers, ...);
//   - CompiledFilters: a `filter_list` pipeline (regex, take_first,
//     lowercase, uppercase, remove_whitespace, majority_vote) with its
//     regexes compiled once (Python `re` via py/re.h);
//   - ExactMatch: `exact_match_hf_evaluate` with regexes_to_ignore,
//     ignore_case and ignore_punctuation;
//   - the per-metric aggregation rules (mean, perplexity,
//     weighted_perplexity, bits_per_byte).
//
// Thread-safety: immutable values; any number of threads may use them.
#ifndef EVALD_TASKS_LM_EVAL_SCORING_H_
#define EVALD_TASKS_LM_EVAL_SCORING_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/json.h"
#include "py/re.h"
#include "tasks/lm_eval/config.h"

namespace evald::tasks::lm_eval {

// ast.literal_eval for the literals templates render: str (both quotes,
// Python escapes, adjacent literals joined), int, float, True/False/None,
// list, tuple (as a JSON array) and dict with string keys. InvalidArgument
// (Python's SyntaxError / ValueError) otherwise.
absl::StatusOr<base::Json> ParsePythonLiteral(absl::string_view text);

// A filter pipeline with its regexes compiled.
class CompiledFilters {
 public:
  // InvalidArgument naming the step's origin for an unknown function, a bad
  // regex, or a step after the pipeline has reduced to a single response.
  static absl::StatusOr<CompiledFilters> Compile(
      const FilterPipeline& pipeline);

  const std::string& name() const { return name_; }

  // Runs the pipeline over the responses of one document (one per repeat)
  // and returns the filtered response lm-eval scores. A pipeline that
  // leaves a list (no take_first / majority_vote at the end) is scored on
  // its first element, which is what lm-eval does for a single repeat.
  std::string Apply(const std::vector<std::string>& responses) const;

 private:
  struct Step {
    std::string function;
    std::optional<py::Regex> regex;
    int group_select = 0;
    std::string fallback;
  };
  std::string name_;
  std::vector<Step> steps_;
};

// RegexFilter.apply for one response: re.findall, match[group_select]
// (negative counts from the end), the first non-empty group of a tuple,
// stripped; `fallback` when nothing matches.
// evald's name of lm-eval's metric key "<metric>,<filter>": the bare metric
// for filter "none" (as the built-in tasks name theirs, so runs of a built-in
// and of its YAML twin compare metric by metric), "<metric>,<filter>"
// otherwise. The lm-eval export writes the full key back.
std::string MetricKey(absl::string_view metric, absl::string_view filter);

std::string RegexExtract(const py::Regex& regex, int group_select,
                         absl::string_view fallback, absl::string_view text);

// exact_match_hf_evaluate for one prediction and reference.
class ExactMatcher {
 public:
  static absl::StatusOr<ExactMatcher> Create(const MetricConfig& metric);
  double Score(absl::string_view prediction, absl::string_view reference) const;

 private:
  std::string Normalize(absl::string_view text) const;
  std::vector<py::Regex> ignore_;
  bool ignore_case_ = false;
  bool ignore_punctuation_ = false;
};

// How a metric's per-document values become the task's number.
enum class Aggregation {
  kMean,                // acc, acc_norm, acc_mutual_info, exact_match
  kPerplexity,          // exp(-mean(ll))
  kWeightedPerplexity,  // exp(-Σll / Σweight)   word/byte perplexity
  kBitsPerByte,         // -Σll / Σbytes / ln 2
};

struct MetricSpec {
  std::string metric;
  Aggregation aggregation = Aggregation::kMean;
  bool higher_is_better = true;
  std::string aggregation_name;  // as lm-eval names it ("mean", ...)
};

// The metric's lm-eval defaults, with the config's aggregation /
// higher_is_better applied. InvalidArgument naming the origin for a metric
// the output type does not produce or an aggregation that does not fit.
absl::StatusOr<MetricSpec> ResolveMetric(const MetricConfig& metric,
                                         const std::string& output_type);

// lm-eval's bootstrap_stderr for the `perplexity` aggregation with its
// default 100,000 replicates: in chunks of 1,000, chunk i drawing with
// random.Random(i).choices(xs, k=len(xs)); the sample standard deviation
// of exp(-mean) over the replicates. REQUIRES: !xs.empty().
double PerplexityBootstrapStderr(const std::vector<double>& xs,
                                 int iters = 100000);

// lm-eval's default metric_list of an output type.
std::vector<MetricConfig> DefaultMetrics(const std::string& output_type);

}  // namespace evald::tasks::lm_eval

#endif  // EVALD_TASKS_LM_EVAL_SCORING_H_
