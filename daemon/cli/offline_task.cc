#include "daemon/cli/offline_task.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace evald::daemon::cli {

absl::StatusOr<std::unique_ptr<tasks::Task>> CreateOfflineTask(
    const OfflineTaskFlags& flags, const GlobalOptions& global) {
  tasks::TaskOptions options;
  options.data_path = flags.data.empty()
                          ? DefaultDatasetPath(flags.task, global.data_dir)
                          : flags.data;
  options.variant = flags.variant;
  options.system_instruction = flags.system;
  if (!flags.shots.empty() &&
      (!absl::SimpleAtoi(flags.shots, &options.shots) || options.shots < 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--shots: expected a non-negative integer, got '", flags.shots, "'"));
  }
  absl::StatusOr<std::unique_ptr<tasks::Task>> task =
      tasks::CreateTask(flags.task, options);
  if (!task.ok()) return absl::InvalidArgumentError(task.status().message());
  return task;
}

}  // namespace evald::daemon::cli
