// File: daemon/cli/offline_task.cc
#include "daemon/cli/offline_task.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tasks/lm_eval/config.h"

namespace evald::daemon::cli {

bool IsTaskFileArgument(const std::string& arg) {
  if (absl::EndsWith(arg, ".yaml") || absl::EndsWith(arg, ".yml")) return true;
  std::error_code ec;
  if (!std::filesystem::is_directory(arg, ec)) return false;
  if (arg.find('/') != std::string::npos) return true;
  const std::vector<std::string> builtins = tasks::RegisteredTasks();
  return std::find(builtins.begin(), builtins.end(), arg) == builtins.end();
}

absl::StatusOr<std::unique_ptr<tasks::Task>> CreateOfflineTask(
    const OfflineTaskFlags& flags, const GlobalOptions& global,
    std::string* display_name) {
  tasks::TaskOptions options;
  std::string name = flags.task;
  if (IsTaskFileArgument(flags.task)) {
    for (const auto& [flag, value] :
         {std::pair<const char*, const std::string*>{"--data", &flags.data},
          {"--variant", &flags.variant}}) {
      if (!value->empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(flag, " is not meaningful with a task file (",
                         flags.task, " names its own data)"));
      }
    }
    std::error_code ec;
    std::filesystem::path path = std::filesystem::absolute(flags.task, ec);
    options.task_file = ec ? flags.task : path.lexically_normal().string();
    absl::StatusOr<tasks::lm_eval::TaskLibrary> library =
        tasks::lm_eval::LoadTaskLibrary(flags.task);
    if (!library.ok()) {
      return absl::InvalidArgumentError(library.status().message());
    }
    if (flags.name.empty()) {
      absl::StatusOr<std::string> default_name = library->DefaultName();
      if (!default_name.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(flags.task, ": ", default_name.status().message()));
      }
      name = *default_name;
    } else {
      if (auto resolved = library->Resolve(flags.name); !resolved.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--name: ", resolved.status().message(), " in ", flags.task));
      }
      name = flags.name;
    }
  } else {
    if (!flags.name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--name picks a task of a task file (*.yaml or a folder); '",
          flags.task, "' is a built-in task"));
    }
    options.data_path = flags.data.empty()
                            ? DefaultDatasetPath(flags.task, global.data_dir)
                            : flags.data;
    options.variant = flags.variant;
  }
  options.system_instruction = flags.system;
  if (!flags.shots.empty() &&
      (!absl::SimpleAtoi(flags.shots, &options.shots) || options.shots < 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--shots: expected a non-negative integer, got '", flags.shots, "'"));
  }
  absl::StatusOr<std::unique_ptr<tasks::Task>> task =
      tasks::CreateTask(name, options);
  if (!task.ok()) return absl::InvalidArgumentError(task.status().message());
  if (display_name != nullptr) *display_name = name;
  return task;
}

}  // namespace evald::daemon::cli
