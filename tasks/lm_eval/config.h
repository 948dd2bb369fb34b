// File: tasks/lm_eval/config.h
// -----------------------------------------------------------------------------
// lm-evaluation-harness task YAML, read into plain values: the task schema
// (`task`, `dataset_path`, `doc_to_text`, `filter_list`, `metric_list`, ...),
// `include:` of base files, and group files (`group`, `task: [...]`,
// `aggregate_metric_list`). LoadTaskLibrary reads a file or a folder of
// them; LoadTaskDocs reads the documents a task names from local files.
//
// Errors are InvalidArgument with one line naming the place:
//   "tasks/my.yaml:12:3: key 'doc_to_txt' is not an lm-eval task key (did
//    you mean 'doc_to_text'?)"
//   "tasks/my.yaml:7:15: key 'process_docs' needs Python (!function), which
//    evald does not run"
//   "data/test.jsonl:41: not a JSON object"
// Nothing that needs Python is ever ignored: it is refused.
//
// Thread-safety: plain functions and value types.
#ifndef EVALD_TASKS_LM_EVAL_CONFIG_H_
#define EVALD_TASKS_LM_EVAL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/json.h"
#include "tasks/task.h"

namespace evald::tasks::lm_eval {

// Where a value was written, for errors: "tasks/my.yaml:12:3".
struct Origin {
  std::string file;
  int line = 0;                  // 1-based; 0 = unknown
  int column = 0;                // 1-based; 0 = unknown
  std::string ToString() const;  // "file:line:column" (or less if unknown)
};

// A `doc_to_text` / `doc_to_target` / `doc_to_choice` / `description` value
// as written: a string (a column name or a Jinja template), a list of
// strings (each a template; doc_to_choice), or an integer (doc_to_target as
// an index into the choices).
struct DocField {
  enum class Kind { kUnset, kString, kList, kInt };
  Kind kind = Kind::kUnset;
  std::string text;               // kString
  std::vector<std::string> list;  // kList
  int64_t number = 0;             // kInt
  Origin origin;
  bool set() const { return kind != Kind::kUnset; }
};

// One step of a filter pipeline (`filter_list[i].filter[j]`).
struct FilterStep {
  // "regex", "take_first", "lowercase", "uppercase", "remove_whitespace",
  // "majority_vote".
  std::string function;
  // regex: lm-eval's RegexFilter defaults.
  std::string regex_pattern = R"(#### (\-?[0-9\.\,]+))";
  int group_select = 0;
  std::string fallback = "[invalid]";
  Origin origin;
};

struct FilterPipeline {
  std::string name;  // e.g. "strict-match"; "none" when implicit
  std::vector<FilterStep> steps;
  Origin origin;
};

// One `metric_list` entry.
struct MetricConfig {
  // "acc", "acc_norm", "acc_mutual_info", "exact_match", "word_perplexity",
  // "byte_perplexity", "bits_per_byte".
  std::string metric;
  std::string aggregation;               // "" = the metric's lm-eval default
  std::optional<bool> higher_is_better;  // unset = the metric's default
  // exact_match options.
  bool ignore_case = false;
  bool ignore_punctuation = false;
  std::vector<std::string> regexes_to_ignore;
  Origin origin;
};

struct GenerationKwargs {
  std::vector<std::string> until;  // stop strings
  bool until_set = false;          // `until` was written
  int max_gen_toks = 256;
  bool do_sample = false;
  double temperature = 0;
  std::optional<double> top_p;
  std::optional<int> top_k;
  Origin origin;
};

// `fewshot_config`: unset fields inherit the task's.
struct FewshotConfig {
  std::string sampler = "default";  // "default" (seeded) or "first_n"
  std::string split;                // "" = the task's fewshot_split
  DocField doc_to_text;
  DocField doc_to_target;
  DocField doc_to_choice;
  std::optional<std::string> target_delimiter;
  std::optional<std::string> fewshot_delimiter;
  std::optional<std::string> gen_prefix;
  // Fixed examples given inline (`samples: [{...}, ...]`), used in order.
  std::vector<base::Json> samples;
  Origin origin;
};

// One task, with every `include:` merged in (the including file's keys win).
struct TaskConfig {
  std::string task;               // the task name
  std::vector<std::string> tags;  // `tag:` (a string or a list)
  std::string file;               // the YAML file it was read from
  Origin origin;                  // where `task:` was written

  // Data, from local files: `dataset_path` is a file or folder (relative to
  // the folder of the YAML file that wrote it), or `dataset_kwargs:
  // {data_files: {split: path or [paths]}}` names the file(s) of each split
  // (a name may be a pattern, test-*.jsonl). Formats by extension: .jsonl,
  // .json (a list of objects, or {"data"|split: [...]}), .csv (header row);
  // or by dataset_path `json` / `csv`, as `datasets` reads them.
  std::string dataset_path;
  std::string dataset_name;  // `dataset_name`: a subfolder or file stem
  std::vector<std::pair<std::string, std::vector<std::string>>> data_files;
  // The folders of the files that wrote `dataset_path` and `dataset_kwargs`
  // (an include base may live elsewhere): relative paths resolve there.
  std::string dataset_path_dir;
  std::string data_files_dir;
  std::string test_split;
  std::string validation_split;
  std::string training_split;
  std::string fewshot_split;

  // "multiple_choice", "generate_until", "loglikelihood",
  // "loglikelihood_rolling".
  std::string output_type = "generate_until";
  DocField doc_to_text;
  DocField doc_to_target;
  DocField doc_to_choice;
  DocField description;  // a template; "" when unset
  std::string target_delimiter = " ";
  std::string fewshot_delimiter = "\n\n";
  std::string gen_prefix;
  std::optional<int> num_fewshot;  // unset: 0 (lm-eval's evaluator default)
  FewshotConfig fewshot_config;
  GenerationKwargs generation_kwargs;
  std::vector<FilterPipeline> filter_list;  // empty: implicit "none"
  std::vector<MetricConfig> metric_list;    // empty: the output type's default
  int repeats = 1;
  std::string version;  // metadata.version as written ("1.0"); "" if none

  // The merged configuration as lm-eval's results file records it under
  // `configs` (None fields dropped, `tag` dropped, metadata.config_source
  // the file's absolute path), as a JSON object. What lm-eval adds at run
  // time (num_fewshot as run, the model's metadata) is the caller's.
  base::Json config_json;
};

// One `aggregate_metric_list` entry of a group.
struct AggregateMetric {
  std::string metric;  // e.g. "acc"
  std::string aggregation = "mean";
  bool weight_by_size = true;  // micro (true) or macro (false)
  std::vector<std::string> filter_list = {"none"};
  Origin origin;
};

// A group file: `group: name`, `task: [names, or inline task configs]`.
struct GroupConfig {
  std::string group;
  std::string file;
  Origin origin;
  // Members by name: tasks, tags (expanded to every task carrying the tag)
  // or other groups. Inline task configs in `task:` become TaskConfigs of
  // the library and are listed here by their name.
  std::vector<std::string> members;
  std::vector<AggregateMetric> aggregate_metric_list;  // empty: no group score
  std::string version;
  base::Json config_json;  // as lm-eval records a group's config
};

// Every task and group defined by a file or a folder (searched
// recursively, `*.yaml` and `*.yml`, hidden files and folders skipped;
// files whose name starts with `_` are read as include bases, not as
// tasks, unless they define a group).
struct TaskLibrary {
  std::vector<TaskConfig> tasks;
  std::vector<GroupConfig> groups;
  // Every YAML file read, with its sha256 (the fingerprint lists them).
  std::vector<DatasetFile> files;
  // The task or group a lone file defines ("" for a folder): DefaultName().
  std::string primary;

  const TaskConfig* FindTask(const std::string& name) const;
  const GroupConfig* FindGroup(const std::string& name) const;
  // The leaf tasks `name` stands for (a task, a tag or a group, groups
  // expanded recursively), in order; NotFound naming the known names.
  absl::StatusOr<std::vector<const TaskConfig*>> Resolve(
      const std::string& name) const;
  // The one task or group a file or folder is about when the suite names
  // none: the one a lone file defines, else the only group no other group
  // lists, else the only task.
  // InvalidArgument listing the candidates otherwise.
  absl::StatusOr<std::string> DefaultName() const;
};

// A lone file given as a group whose members are defined elsewhere also
// reads the folder it is in (recursively), as lm-eval indexes its task
// folders. Each YAML file is at most 1 MiB; includes nest at most 16 deep.
absl::StatusOr<TaskLibrary> LoadTaskLibrary(const std::string& path);

// The same for the text of one file; `display_path` names it in errors and
// is where its includes are resolved from (the fuzzer's entry point).
absl::StatusOr<TaskLibrary> LoadTaskLibraryFromText(
    absl::string_view text, const std::string& display_path);

// Documents of one task, in file order.
struct Doc {
  base::Json value;   // a JSON object (CSV rows typed per column as pandas
                      // reads CSV: int, float, bool or str; see docs.cc)
  std::string where;  // "file:line" for errors
};

struct TaskDocs {
  std::vector<Doc> eval;           // test_split, else validation_split
  std::vector<Doc> fewshot;        // fewshot_config.split / fewshot_split /
                                   // inline samples / training_split /
                                   // validation_split / test_split, as
                                   // lm-eval picks (and, like lm-eval, read
                                   // even for 0-shot)
  bool fewshot_is_eval = false;    // the few-shot split is the eval split
  std::vector<DatasetFile> files;  // every data file read, with sha256
};

// Reads the splits `config` needs. Every string is checked to be valid
// UTF-8; a bad line names file, line and field.
absl::StatusOr<TaskDocs> LoadTaskDocs(const TaskConfig& config);

}  // namespace evald::tasks::lm_eval

#endif  // EVALD_TASKS_LM_EVAL_CONFIG_H_
