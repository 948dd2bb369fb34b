// File: daemon/lm_eval_files.h
// -----------------------------------------------------------------------------
// lm-evaluation-harness's output files, both ways: a stored run written as
// lm-eval writes `--output_path DIR --log_samples` (results_<date>.json and
// samples_<task>_<date>.jsonl under DIR/<model_name_sanitized>/), and such
// files read back into the records of one run (`evalctl import`), so that a
// baseline measured with lm-eval can be compared with evald's runs.
//
// Export follows lm-eval at commit 4e7e0d47f33b (evaluator.py,
// evaluator_utils.py, loggers/evaluation_tracker.py, loggers/utils.py): the
// same keys in the same order, numbers spelt as Python prints them, response
// lists turned to strings as lm-eval's sanitize_list does, and doc_hash /
// prompt_hash / target_hash / task_hashes computed as lm-eval computes them
// (sha256 of json.dumps(doc, indent=2, ensure_ascii=False), of the context,
// of str(target)). What a task records for this is SampleResult::lm_eval_json
// and TaskInfo::lm_eval_config_json (tasks/task.h); docs/lm-eval.md has the
// mapping and what differs.
//
// Thread-safety: pure functions.
#ifndef EVALD_DAEMON_LM_EVAL_FILES_H_
#define EVALD_DAEMON_LM_EVAL_FILES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/store.pb.h"

namespace evald::daemon {

struct LmEvalFile {
  std::string path;  // relative to the output folder
  std::string content;
};

struct LmEvalExport {
  std::vector<LmEvalFile> files;  // the results file first
  // Tasks or samples that could not be written as lm-eval writes them (a
  // task that records no lm-eval configuration, a failed sample), for people.
  std::vector<std::string> warnings;
};

// The files of `run`: its scores and, per suite task name, its samples.
absl::StatusOr<LmEvalExport> ExportLmEval(
    const v1::RunRecord& run, absl::Span<const v1::TaskScores> scores,
    const std::map<std::string, std::vector<v1::SampleRecord>>& samples);

// lm-eval's sanitize_model_name: runs of "<>:/|\?*[] replaced by "__".
std::string SanitizeModelName(absl::string_view name);

// One input file of an import: its path (named in errors) and contents.
struct LmEvalInputFile {
  std::string path;
  std::string content;
};

// One run made from lm-eval's files, ready to store: the record (state
// SUCCEEDED, label imported=lm-eval, its spec naming the source), the scores
// of each task and its samples. Task names are lm-eval's; metric names are
// evald's ("acc", "exact_match,strict-match"; see docs/lm-eval.md).
struct LmEvalImport {
  v1::RunRecord run;
  std::vector<v1::TaskScores> scores;
  std::vector<v1::SampleRecord> samples;
};

// Reads a results_*.json and the samples_*.jsonl files beside it (any may be
// absent: a run without samples). `run_id` names the run to make;
// `now_unix_ms` stamps it. Errors are one line naming the file, the line
// and the key: "results_x.json: line 3: key 'results.gsm8k': ...".
absl::StatusOr<LmEvalImport> ParseLmEval(
    const LmEvalInputFile& results, absl::Span<const LmEvalInputFile> samples,
    const std::string& run_id, int64_t now_unix_ms);

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_LM_EVAL_FILES_H_
