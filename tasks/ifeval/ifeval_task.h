// File: tasks/ifeval/ifeval_task.h
// -----------------------------------------------------------------------------
// The `ifeval` task (lm-evaluation-harness `ifeval`, version 4.0): 541
// prompts of google/IFEval sent as they are, greedy generation of up to 1280
// new tokens with no stop string but EOS, and each response checked against
// the document's verifiable instructions in strict and loose mode. Metrics:
// prompt_level_strict_acc, inst_level_strict_acc, prompt_level_loose_acc,
// inst_level_loose_acc. Prompt-level stderr is lm-eval's sample stderr of the
// mean; the instruction-level means are flattened over all instructions and
// their stderr is "N/A" in lm-eval, reported here as 0.
//
// Data: TaskOptions.data_path is the IFEval JSONL file (official
// input_data.jsonl or a Hugging Face export, with key, prompt,
// instruction_id_list, kwargs) or a folder holding input_data.jsonl. Punkt
// parameters (punkt_tab English) come from `punkt_path` when given, else from
// the first of <dir>/../punkt/english, <dir>/../punkt/punkt_tab/english,
// <dir>/../punkt_tab/english, <dir>/punkt/english that exists, where <dir> is
// the dataset folder. Language identification follows LoadLanguageDetector
// below; the detector and its data hash are part of the prompt-format hash.
// The dataset file, the four Punkt files and their
// sha256s are recorded in TaskInfo; the whole dataset is read and every
// instruction built before the task exists, so a bad line (errors name file,
// line and field) stops it from starting.
//
// Thread-safety: immutable after creation; Run() from one thread at a time.
#ifndef EVALD_TASKS_IFEVAL_IFEVAL_TASK_H_
#define EVALD_TASKS_IFEVAL_IFEVAL_TASK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "base/json.h"
#include "tasks/ifeval/instructions.h"
#include "tasks/ifeval/punkt.h"
#include "tasks/task.h"

namespace evald::tasks::ifeval {

inline constexpr int kMaxNewTokens = 1280;

struct IfevalDoc {
  int64_t key = 0;
  std::string prompt;
  std::vector<std::string> instruction_ids;
  std::vector<std::unique_ptr<Instruction>> instructions;
  base::Json row;  // the dataset row as read (lm-eval's `doc`)
};

struct IfevalScore {
  std::vector<bool> strict;  // one per instruction
  std::vector<bool> loose;
  bool prompt_strict = false;
  bool prompt_loose = false;
};

// Reads and validates a dataset file; `data`'s members must outlive the
// documents. The overload taking only Punkt uses the CLD2 language fallback.
absl::StatusOr<std::vector<IfevalDoc>> LoadIfevalDataset(
    const std::string& path, const CheckerData& data);
absl::StatusOr<std::vector<IfevalDoc>> LoadIfevalDataset(
    const std::string& path, const PunktTokenizer* punkt);

// The language detector the options ask for: option `language_id`
// "langdetect" (the reference's algorithm; profiles from `langdetect_path`,
// else <dir>/../langdetect, <dir>/langdetect or Debian's python3-langdetect
// package), "cld2", or unset (langdetect when its profiles are found, else
// CLD2). Null means the CLD2 fallback (Cld2Detector()).
absl::StatusOr<std::unique_ptr<LanguageDetector>> LoadLanguageDetector(
    const std::string& data_path, const std::string& language_id,
    const std::string& langdetect_path);

// Scores one response to one document (lm-eval's process_results).
IfevalScore ScoreIfevalResponse(const IfevalDoc& doc,
                                absl::string_view response);

// The dataset file for a data path (file, or folder holding input_data.jsonl).
absl::StatusOr<std::string> ResolveIfevalDataFile(const std::string& data_path);
// The punkt_tab English folder for a data path (see the file comment).
absl::StatusOr<std::string> ResolvePunktDir(const std::string& data_path);

// Metrics from stored samples (uses the per-sample instruction counts).
std::vector<MetricResult> AggregateIfeval(
    absl::Span<const SampleResult> samples);

// Creates the task. `punkt_path` (the punkt_tab English folder, or a folder
// holding english/) overrides the Punkt folder lookup.
absl::StatusOr<std::unique_ptr<Task>> CreateIfevalTask(
    const TaskOptions& options, const std::string& punkt_path = "");

}  // namespace evald::tasks::ifeval

#endif  // EVALD_TASKS_IFEVAL_IFEVAL_TASK_H_
