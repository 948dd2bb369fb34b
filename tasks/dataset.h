// File: tasks/dataset.h
// -----------------------------------------------------------------------------
// Dataset readers for the built-in tasks. Each reader loads and validates a
// whole dataset before returning, so a task never starts on a half-read
// file; errors name the file, the line and the field at fault. Every file
// read is listed with its sha256 (TaskInfo.datasets).
//
//   MMLU, Hendrycks layout: <dir>/dev/<subject>_dev.csv and
//     <dir>/test/<subject>_test.csv, no header, columns question,A,B,C,D,
//     answer letter (RFC 4180 quoting, embedded newlines allowed).
//   MMLU, Hugging Face export: <dir>/dev.jsonl and <dir>/test.jsonl with
//     {"question", "subject", "choices": [4 strings], "answer": 0..3}.
//   GSM8K: <dir>/test.jsonl and <dir>/train.jsonl (or a test .jsonl file with
//     train.jsonl beside it) with {"question", "answer": "... #### N"}.
//
// Thread-safety: plain functions and value types.
#ifndef EVALD_TASKS_DATASET_H_
#define EVALD_TASKS_DATASET_H_

#include <array>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/json.h"
#include "tasks/task.h"

namespace evald::tasks {

// RFC 4180 CSV: returns the records of `text`, each with the 1-based line
// it starts on. `file` names the file in errors (unterminated quote, stray
// quote inside an unquoted field).
struct CsvRecord {
  int line = 0;
  std::vector<std::string> fields;
};
absl::StatusOr<std::vector<CsvRecord>> ParseCsv(absl::string_view text, absl::string_view file);

// One JSON object per non-blank line; errors name file and line.
struct JsonlRecord {
  int line = 0;
  base::Json value;
};
absl::StatusOr<std::vector<JsonlRecord>> ReadJsonl(const std::string& path);

struct MmluQuestion {
  std::string question;
  std::array<std::string, 4> choices;
  int answer = 0;  // 0..3 = A..D
};

struct MmluSubject {
  std::string name;  // e.g. "abstract_algebra"
  std::vector<MmluQuestion> dev;
  std::vector<MmluQuestion> test;
};

struct MmluDataset {
  std::vector<MmluSubject> subjects;  // in the order of MmluSubjects()
  std::vector<DatasetFile> files;
};

// The 57 subjects and their lm-eval group: "stem", "humanities",
// "social_sciences" or "other", in alphabetical order of subject.
const std::vector<std::pair<std::string, std::string>>& MmluSubjects();
// The group of `subject`, or "" if it is not one of the 57.
std::string MmluGroupOf(absl::string_view subject);

// Loads the subjects found under `dir` (either layout). Files for unknown
// subjects are errors; subjects without a test file are absent.
absl::StatusOr<MmluDataset> LoadMmlu(const std::string& dir);

struct Gsm8kProblem {
  std::string question;
  std::string answer;  // full worked solution ending "#### N"
};

struct Gsm8kDataset {
  std::vector<Gsm8kProblem> test;
  std::vector<Gsm8kProblem> train;  // empty unless requested
  std::vector<DatasetFile> files;
};

// Loads GSM8K from a folder or a test file; `with_train` also loads the
// train split (needed for random few-shot examples).
absl::StatusOr<Gsm8kDataset> LoadGsm8k(const std::string& path, bool with_train);

}  // namespace evald::tasks

#endif  // EVALD_TASKS_DATASET_H_
