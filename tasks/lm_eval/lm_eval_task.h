// File: tasks/lm_eval/lm_eval_task.h
// -----------------------------------------------------------------------------
// The Task that runs lm-evaluation-harness task YAML: one Task over one or
// more leaf task configs and the groups above them (as the built-in MMLU is
// one Task over 57 subjects), with lm-eval's ConfigurableTask semantics:
// doc_to_text / doc_to_target / doc_to_choice (a column, a list, or a Jinja
// template rendered in lm-eval's environment, with its isdigit-to-int and
// literal_eval rules), description, delimiters, few-shot sampling
// (`default`: random.Random(seed) once per leaf, drawn in document order,
// n+1 with the eval document dropped when the few-shot split equals
// test_split, both unset included, as lm-eval compares them; `first_n`;
// fixed `fewshot_config.samples`), the four output types,
// filters, metrics and group aggregation (micro or macro, pooled stderr).
//
// Documents are "<leaf task>/<index>"; SampleResult::subtask is the leaf.
// Metrics are named "<metric>,<filter>" as lm-eval names them ("acc,none",
// "exact_match,strict-match"). MetricResult::group is "" for the task or
// group the suite named, and the leaf or sub-group name for the parts of a
// group.
//
// SampleResult::lm_eval_json follows tasks/task.h and adds "target": the
// document's doc_to_target value as lm-eval's samples file records it (an
// int index for MMLU), where SampleResult::target holds its text. For
// multiple_choice and loglikelihood tasks "filtered_resps" is {"none":
// [[logprob, is_greedy], ...]} (one per request), for rolling {"none":
// [logprob]}, for generate_until {"<filter>": ["<filtered text>"]}.
//
// Every template of every document in use is rendered when the task is
// created, so a template that fails for a document refuses the task with
// the document ("data/test.jsonl:17") and the template's key named.
//
// Not supported (refused at creation, named): multiple-input tasks
// (doc_to_text giving an index), gen_prefix. A loglikelihood_rolling
// document longer than the model's context fails as that sample's error
// (no rolling windows). perplexity's stderr is lm-eval's bootstrap (100,000
// replicates, reproduced draw for draw); word/byte perplexity and
// bits_per_byte have none (N/A), as in lm-eval.
//
// Thread-safety: as tasks::Task.
#ifndef EVALD_TASKS_LM_EVAL_LM_EVAL_TASK_H_
#define EVALD_TASKS_LM_EVAL_LM_EVAL_TASK_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tasks/lm_eval/config.h"
#include "tasks/task.h"

namespace evald::tasks::lm_eval {

// One leaf task with its documents.
struct LeafTask {
  TaskConfig config;
  TaskDocs docs;
};

// Builds the task `name` (a leaf task, a tag, or a group) over `leaves`
// (in order; their names unique). `groups` holds the group configs of the
// library (those not under `name` are ignored); `yaml_files` the task files
// read, for the fingerprint.
absl::StatusOr<std::unique_ptr<Task>> CreateLmEvalTask(
    const std::string& name, std::vector<LeafTask> leaves,
    const std::vector<GroupConfig>& groups,
    const std::vector<DatasetFile>& yaml_files, const TaskOptions& options);

// The task-file factory: LoadTaskLibrary(options.task_file), the task or
// group `name` (or the library's DefaultName when ""), LoadTaskDocs per
// leaf, CreateLmEvalTask. Registered with RegisterTaskFileFactory.
absl::StatusOr<std::unique_ptr<Task>> CreateTaskFromFile(
    const std::string& name, const TaskOptions& options);

}  // namespace evald::tasks::lm_eval

#endif  // EVALD_TASKS_LM_EVAL_LM_EVAL_TASK_H_
