// File: tasks/task.h
// -----------------------------------------------------------------------------
// A Task turns a dataset into Runner requests, scores each document, and
// aggregates per-document results into metrics. Tasks see only the Runner
// interface.
//
// The daemon drives a task in three steps, which is what makes runs
// resumable: DocIds() lists the documents; Run() evaluates a subset of them
// (the ones not already stored), calling `on_sample` as each document
// finishes; Aggregate() turns all stored samples into metrics. A resumed run
// therefore aggregates exactly the samples an uninterrupted run would.
//
// Thread-safety: a Task is immutable after Create(); Run() may be called from
// one thread at a time.
#ifndef EVALD_TASKS_TASK_H_
#define EVALD_TASKS_TASK_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runners/runner.h"

namespace evald::tasks {

// Options a suite gives a task (suite.yaml `tasks:` entries).
struct TaskOptions {
  // Dataset folder or file. The daemon defaults it to
  // <data-dir>/datasets/<dataset name> (where `evalctl datasets fetch` puts
  // it).
  std::string data_path;
  int shots = -1;       // -1: the task's default
  int64_t limit = 0;    // 0: all documents; else the first N
  std::string variant;  // "" or a named variant (e.g. "cot")
  bool chat_template =
      false;  // apply the model's chat template (lm-eval rules)
  std::string system_instruction;
  uint64_t seed = 1234;  // few-shot sampler seed where the task samples
  // Task-specific options from the suite's `options:` map (e.g. ifeval's
  // punkt_path). Unknown keys are the task's to reject.
  std::map<std::string, std::string> options;
  // An lm-eval task YAML file or a folder of them (suite `- yaml: PATH`,
  // absolute). When set, CreateTask builds the task or group called `name`
  // from it (tasks/lm_eval) instead of looking up a built-in task.
  std::string task_file;
};

struct DatasetFile {
  std::string path;
  std::string sha256;
};

// What the fingerprint records of a task.
struct TaskInfo {
  std::string name;     // e.g. "mmlu", "gsm8k_cot"
  std::string version;  // task version as lm-eval names it
  int shots = 0;
  std::string
      prompt_format_hash;  // sha256 of the prompt-building rules/strings
  std::string generation_settings;  // human-readable, e.g. "greedy, max 256,
                                    // stop [...]"
  std::vector<DatasetFile> datasets;
  // The task grades with the suite's judge model (judged tasks, gsm8k with
  // judge_check); a suite without `judge:` is refused at submit.
  bool needs_judge = false;
  // Option keys whose values name a baseline run (pairwise judged tasks);
  // the daemon resolves them to a run id at submit.
  bool needs_baseline = false;
  // The task's lm-eval configuration as a JSON object (lm-eval's `configs`
  // entry of a results file; for a group, {"<subtask>": config, ...}).
  // "" when the task has none to give.
  std::string lm_eval_config_json;
  // A group's structure as lm-eval reports it, for the export: a JSON object
  // {"<group>": {"alias": "...", "version": metadata.version, "children":
  // [names of subgroups and tasks, in order]}, ...}, the task's own group
  // first.
  // "" when the task reports no groups this way (the built-ins: the export
  // knows theirs).
  std::string lm_eval_groups_json;
};

// One judge call made for a sample, stored with it.
struct JudgeCall {
  std::string order;   // "" or, pairwise, "candidate_first" / "baseline_first"
  std::string prompt;  // the judge prompt as sent (first attempt)
  std::vector<std::string> raw;  // the judge's reply per attempt (1 or 2)
  // "1".."10" (single), "A" / "B" / "tie" (pairwise), "correct" /
  // "incorrect" (reference), "unparsable", or "error" (see `error`).
  std::string verdict;
  std::string error;
};

// One evaluated document. Everything needed to re-aggregate without the model.
struct SampleResult {
  size_t doc_index = 0;  // the document, as an index into DocIds()
  std::string doc_id;    // stable id (see `evalctl prompt`)
  std::string subtask;   // e.g. MMLU subject; "" if none
  std::string prompt;    // the context/prompt sent
  std::string target;    // the reference answer
  std::vector<std::string> responses;     // generations or per-choice summaries
  std::map<std::string, double> metrics;  // e.g. {"acc": 1}
  std::string extracted;                  // extracted answer(s), for people
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;
  int64_t generated_tokens = 0;
  double wall_seconds = 0;
  std::string error;             // non-empty: the sample failed
  std::vector<JudgeCall> judge;  // judge calls, in order
  // The sample as lm-eval's samples file records it, for `evalctl export
  // --format lm-eval`; "" when the task does not record it. A JSON object:
  //   {"doc": {...the document...},
  //    "target": value,                     optional: what lm-eval's
  //        doc_to_target gives (an int for MMLU's answer); else `target`
  //    "arguments": [[arg0, arg1], ...],   one entry per request:
  //        loglikelihood [context, continuation], generate_until
  //        [context, {generation kwargs}], loglikelihood_rolling [text];
  //        a context of null is the sample's `prompt` (stored once)
  //    "resps": [[...], ...],               one entry per request:
  //        loglikelihood [logprob, is_greedy], generate_until [text],
  //        loglikelihood_rolling [logprob]
  //    "metrics": {"<metric>[,<filter>]": value},  optional: lm-eval's
  //        per-document metric values where they are not the sample's
  //        numbers (IFEval's booleans and per-instruction lists)
  //    "filtered_resps": {"<filter>": [...]}}  per filter name ("none"
  //        without filters): one entry per request, what lm-eval's
  //        filtered_resps holds for it (loglikelihood [logprob, is_greedy],
  //        generate_until the extracted text); a value that is not an
  //        array stands for a one-request list of it
  // Numbers are JSON numbers and booleans JSON booleans; the exporter
  // writes them in lm-eval's own spelling (Python's str()). A row's metric
  // values are the sample's `metrics`: "<metric>,<filter>" for that filter,
  // a bare "<metric>" for filter "none".
  std::string lm_eval_json;
};

// One reported number.
struct MetricResult {
  std::string name;   // e.g. "acc", "exact_match,strict-match"
  std::string group;  // "" for the task itself, or e.g. "stem", "humanities"
  double value = 0;
  double stderr_value = 0;
  int64_t count = 0;        // documents aggregated
  std::string aggregation;  // "micro" / "macro" / "mean" where it matters
  bool stderr_na = false;   // no stderr is defined (lm-eval prints "N/A")
};

// What a task sends for one document, without a model (`evalctl prompt`).
struct PromptView {
  std::string doc_id;
  std::string context;  // the prompt / context string
  std::vector<std::string>
      continuations;              // loglikelihood tasks: one per choice
  std::string target;             // reference answer
  std::vector<std::string> stop;  // generation tasks
  int max_new_tokens = 0;         // generation tasks
};

// Live judge figures of a run, updated by tasks as they grade (read by
// `evalctl watch`) and summed into the run's phase times.
struct JudgeProgress {
  std::atomic<int64_t> queued{0};  // samples waiting for or in grading
  std::atomic<int64_t> graded{0};  // samples graded
  // Wall seconds the judge spent grading, and the part of it that ran while
  // the candidate was still generating, in microseconds.
  std::atomic<int64_t> busy_us{0};
  std::atomic<int64_t> overlap_us{0};
};

struct RunContext {
  const std::atomic<bool>* cancelled = nullptr;
  // The daemon is draining: start no new document, finish (and hand over)
  // the ones in flight. Tasks pass it on as CallOptions::stop_admitting.
  const std::atomic<bool>* draining = nullptr;
  // The suite's judge model; null without `judge:`.
  runners::Runner* judge = nullptr;
  // Pairwise judged tasks: the baseline run's id and its responses by doc id.
  std::string baseline_run;
  const std::map<std::string, std::string>* baseline_responses = nullptr;
  JudgeProgress* judge_progress = nullptr;  // may be null
};

class Task {
 public:
  virtual ~Task() = default;
  virtual const TaskInfo& info() const = 0;
  virtual std::vector<std::string> DocIds() const = 0;

  // Evaluates the documents at `doc_indices` (indices into DocIds()).
  // `on_sample` is called once per finished document; a non-OK return from
  // it aborts the run with that status.
  virtual absl::Status Run(
      runners::Runner& runner, absl::Span<const size_t> doc_indices,
      const RunContext& context,
      const std::function<absl::Status(SampleResult)>& on_sample) = 0;

  virtual std::vector<MetricResult> Aggregate(
      absl::Span<const SampleResult> samples) const = 0;

  // The plain-text prompt of one document (no chat template), offline.
  virtual absl::StatusOr<PromptView> BuildPrompt(size_t doc_index) const = 0;

  // Scores a response produced elsewhere (`evalctl score`). Generation tasks
  // implement it; loglikelihood tasks return Unimplemented.
  virtual absl::StatusOr<SampleResult> ScoreResponse(
      size_t doc_index, const std::string& response) const {
    return absl::UnimplementedError(
        info().name + ": scoring external responses is not supported");
  }
};

// Registry: tasks register a factory by name; the daemon and evalctl create
// tasks by name. Unknown names are NotFound errors that list the known ones.
using TaskFactory =
    std::function<absl::StatusOr<std::unique_ptr<Task>>(const TaskOptions&)>;
void RegisterTask(const std::string& name, TaskFactory factory);
absl::StatusOr<std::unique_ptr<Task>> CreateTask(const std::string& name,
                                                 const TaskOptions& options);
std::vector<std::string> RegisteredTasks();

// Task files (TaskOptions::task_file, lm-eval task YAML): one factory
// builds the task or group `name` from the file; `name` "" means the one
// the file is about. tasks/lm_eval registers it.
using TaskFileFactory = std::function<absl::StatusOr<std::unique_ptr<Task>>(
    const std::string& name, const TaskOptions&)>;
void RegisterTaskFileFactory(TaskFileFactory factory);

}  // namespace evald::tasks

#endif  // EVALD_TASKS_TASK_H_
