// File: tasks/dataset.h
// -----------------------------------------------------------------------------
// Dataset readers for the built-in tasks. Each reader loads and validates a
// whole dataset before returning, so a task never starts on a half-read
// file; errors name the file, the line and the field at fault. Every file
// read is listed with its sha256 (TaskInfo.datasets). Every string a reader
// accepts is valid UTF-8: a bad byte is refused at load, naming the field,
// instead of reaching the prompts and the stored samples.
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
#include "absl/types/span.h"
#include "base/json.h"
#include "tasks/task.h"

namespace evald::tasks {

// RFC 4180 CSV: returns the records of `text`, each with the 1-based line
// it starts on. `file` names the file in errors (unterminated quote, stray
// quote inside an unquoted field, a field that is not valid UTF-8: named by
// `column_names[i]` when given, else by its 1-based number, on the line of
// the bad byte).
struct CsvRecord {
  int line = 0;
  std::vector<std::string> fields;
};
absl::StatusOr<std::vector<CsvRecord>> ParseCsv(
    absl::string_view text, absl::string_view file,
    absl::Span<const absl::string_view> column_names = {});

// One JSON object per non-blank line; errors name file and line, and the
// field (CheckJsonUtf8) when a string is not valid UTF-8.
struct JsonlRecord {
  int line = 0;
  base::Json value;
};
absl::StatusOr<std::vector<JsonlRecord>> ReadJsonl(const std::string& path);

// OK when every string of `value`, member names included, is valid UTF-8;
// else InvalidArgument "<where>: field 'kwargs[0].keywords[1]' is not valid
// UTF-8 (byte 3 of its value)". The JSON parser passes raw bytes through, so
// a JSONL reader calls this on each row; `where` is e.g. "file:line".
absl::Status CheckJsonUtf8(const base::Json& value, absl::string_view where);

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
absl::StatusOr<Gsm8kDataset> LoadGsm8k(const std::string& path,
                                       bool with_train);

}  // namespace evald::tasks

#endif  // EVALD_TASKS_DATASET_H_
