// File: daemon/cli/offline_task.h
// -----------------------------------------------------------------------------
// The task the offline commands (`prompt`, `score`) work on: created from
// the flags they share (--data, --shots, --variant, --system), the dataset
// defaulting to where `evalctl datasets fetch` puts it.
//
// Thread-safety: a pure function of its arguments (and the files it reads).
#ifndef EVALD_DAEMON_CLI_OFFLINE_TASK_H_
#define EVALD_DAEMON_CLI_OFFLINE_TASK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/cli/command.h"
#include "tasks/task.h"

namespace evald::daemon::cli {

struct OfflineTaskFlags {
  std::string task;
  std::string data;   // "" = DefaultDatasetPath(task, data dir)
  std::string shots;  // "" = the task's default; else a non-negative integer
  std::string variant;
  std::string system;  // system instruction
};

// InvalidArgument naming the flag (--shots) or the task's own error
// (unknown task, a dataset that does not load).
absl::StatusOr<std::unique_ptr<tasks::Task>> CreateOfflineTask(
    const OfflineTaskFlags& flags, const GlobalOptions& global);

}  // namespace evald::daemon::cli

#endif  // EVALD_DAEMON_CLI_OFFLINE_TASK_H_
