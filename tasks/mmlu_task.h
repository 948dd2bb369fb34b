// File: tasks/mmlu_task.h
// -----------------------------------------------------------------------------
// MMLU as lm-evaluation-harness's `mmlu` group defines it (subtasks version
// 1.0, groups version 2): per-subject description, the first `shots` dev
// rows as examples, loglikelihood of " A".." D" (no leading space under a
// chat template), `acc` per subject, size-weighted (micro) group and overall
// scores with lm-eval's pooled stderr, plus the macro average model cards
// quote. Registered as "mmlu"; doc ids are "subject/index" (index into the
// subject's test file). `limit` applies per subject, as lm-eval's --limit.
//
// Exposed for tests; everything else uses the registry.
#ifndef EVALD_TASKS_MMLU_TASK_H_
#define EVALD_TASKS_MMLU_TASK_H_

#include <memory>

#include "absl/status/statusor.h"
#include "tasks/task.h"

namespace evald::tasks {

absl::StatusOr<std::unique_ptr<Task>> CreateMmluTask(
    const TaskOptions& options);

}  // namespace evald::tasks

#endif  // EVALD_TASKS_MMLU_TASK_H_
