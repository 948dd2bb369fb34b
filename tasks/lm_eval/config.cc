// File: tasks/lm_eval/config.cc
// -----------------------------------------------------------------------------
// Placeholder until the loader lands: every entry point says so.
#include "tasks/lm_eval/config.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace evald::tasks::lm_eval {

std::string Origin::ToString() const {
  std::string s = file;
  if (line > 0) absl::StrAppend(&s, ":", line);
  if (line > 0 && column > 0) absl::StrAppend(&s, ":", column);
  return s;
}

const TaskConfig* TaskLibrary::FindTask(const std::string& name) const {
  for (const TaskConfig& t : tasks) {
    if (t.task == name) return &t;
  }
  return nullptr;
}

const GroupConfig* TaskLibrary::FindGroup(const std::string& name) const {
  for (const GroupConfig& g : groups) {
    if (g.group == name) return &g;
  }
  return nullptr;
}

absl::StatusOr<std::vector<const TaskConfig*>> TaskLibrary::Resolve(
    const std::string& name) const {
  return absl::UnimplementedError("lm-eval task files: not yet");
}

absl::StatusOr<std::string> TaskLibrary::DefaultName() const {
  return absl::UnimplementedError("lm-eval task files: not yet");
}

absl::StatusOr<TaskLibrary> LoadTaskLibrary(const std::string& path) {
  return absl::UnimplementedError("lm-eval task files: not yet");
}

absl::StatusOr<TaskDocs> LoadTaskDocs(const TaskConfig& config) {
  return absl::UnimplementedError("lm-eval task files: not yet");
}

}  // namespace evald::tasks::lm_eval
