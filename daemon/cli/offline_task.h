// File: daemon/cli/offline_task.h
// -----------------------------------------------------------------------------
// The task the offline commands (`prompt`, `score`) work on: created from
// the flags they share (--data, --shots, --variant, --system, --name), the
// dataset defaulting to where `evalctl datasets fetch` puts it. The task
// argument may be an lm-eval task YAML file or folder instead of a
// built-in task's name.
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
  // A built-in task's name, or an lm-eval task YAML file (*.yaml, *.yml) or
  // folder of them (IsTaskFileArgument).
  std::string task;
  std::string name;   // task files: which task or group ("" = the default)
  std::string data;   // "" = DefaultDatasetPath(task, data dir)
  std::string shots;  // "" = the task's default; else a non-negative integer
  std::string variant;
  std::string system;  // system instruction
};

// True when `arg` names a task file rather than a built-in task: it ends
// in .yaml or .yml, or it is a folder and contains a '/' or is no
// built-in task's name.
bool IsTaskFileArgument(const std::string& arg);

// InvalidArgument naming the flag (--shots) or the task's own error
// (unknown task, a dataset that does not load, a task file's
// file:line:key). `display_name`, when given, receives the name to print:
// the task, or for a task file the task or group it was built from.
absl::StatusOr<std::unique_ptr<tasks::Task>> CreateOfflineTask(
    const OfflineTaskFlags& flags, const GlobalOptions& global,
    std::string* display_name = nullptr);

}  // namespace evald::daemon::cli

#endif  // EVALD_DAEMON_CLI_OFFLINE_TASK_H_
