// File: tasks/judged_task.h
// -----------------------------------------------------------------------------
// Task `judged`: the candidate answers open-ended prompts and the suite's
// judge model grades the answers (docs/judged.md).
//
// Dataset: JSONL, one prompt per line:
//   {"id": "q1", "prompt": "...", "reference": "...", "category": "math"}
// `id` may be `question_id` (a number or a string; default: the line
// number); `prompt` may be `question`, or `turns` with one entry (or more
// with option first_turn; MT-Bench's question.jsonl); `reference` may be a
// one-entry list; other
// fields are ignored. Errors name the file, the line and the field.
//
// Options (suite `options:`):
//   mode: single | pairwise | reference   (default single)
//   template: PATH        a judge template YAML (default: the built-in one)
//   baseline: RUN         pairwise: a stored run of this task; resolved to a
//                         run id at submit (a run id, tag:NAME or a bare tag)
//   max_new_tokens: N     candidate answer length (default 1024)
//   judge_max_new_tokens: N   judge reply length (default 1024)
//   first_turn: true      multi-turn `turns` (and `reference` lists): take the
//                         first entry instead of refusing the line
//
// Metrics (unparsable verdicts and judge errors are never dropped silently:
// they are excluded from the score and reported as counts):
//   single     rating (mean 1-10, per category as groups)
//   pairwise   win_rate (ties half; both orders, a disagreement is a tie)
//              with win_rate_ci_low/high (Wilson 95%), wins, ties, losses,
//              order_disagreement (share of pairs whose orders disagree)
//   reference  accuracy (per category as groups)
//   all        judge_unparsable, judge_errors (counts)
#ifndef EVALD_TASKS_JUDGED_TASK_H_
#define EVALD_TASKS_JUDGED_TASK_H_

#include <memory>

#include "absl/status/statusor.h"
#include "tasks/task.h"

namespace evald::tasks {

absl::StatusOr<std::unique_ptr<Task>> CreateJudgedTask(
    const TaskOptions& options);

}  // namespace evald::tasks

#endif  // EVALD_TASKS_JUDGED_TASK_H_
