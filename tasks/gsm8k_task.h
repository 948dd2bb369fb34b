// File: tasks/gsm8k_task.h
// -----------------------------------------------------------------------------
// GSM8K as lm-evaluation-harness defines it, three named tasks:
//   gsm8k            (version 3.0) 5-shot, random train examples per document
//                    drawn with CPython random.Random(seed).sample, in order;
//   gsm8k_cot        (version 3.0) the 8 fixed chain-of-thought exemplars;
//   gsm8k_cot_llama  (version 4.0) Meta's Llama-3.1 format, for chat models.
// Greedy generation (256 new tokens, the task's stop strings) scored by
// `exact_match` under the `strict-match` and `flexible-extract` filters with
// lm-eval's normalisation. Doc ids are line indices of the test split.
//
// The scoring pieces are exposed so tests and `evalctl score` can use them.
#ifndef EVALD_TASKS_GSM8K_TASK_H_
#define EVALD_TASKS_GSM8K_TASK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tasks/task.h"

namespace evald::tasks {

// lm-eval's RegexFilter: findall; entry `group_select` (negative counts from
// the end); a tuple gives its first non-empty group; Python strip(); no match
// gives "[invalid]".
std::string ApplyRegexFilter(absl::string_view pattern, int group_select,
                             absl::string_view response);

// exact_match with regexes_to_ignore [",", "\$", "(?s).*#### ", "\.$"],
// ignore_case, ignore_punctuation false: 1 when equal after normalisation.
double Gsm8kExactMatch(absl::string_view prediction,
                       absl::string_view reference);
// The normalisation alone (for display and tests).
std::string Gsm8kNormalize(absl::string_view text);

absl::StatusOr<std::unique_ptr<Task>> CreateGsm8kTask(
    const std::string& name, const TaskOptions& options);

}  // namespace evald::tasks

#endif  // EVALD_TASKS_GSM8K_TASK_H_
