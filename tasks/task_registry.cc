// File: tasks/task_registry.cc
// -----------------------------------------------------------------------------
// The process-wide task registry behind RegisterTask/CreateTask. Tasks
// register from static initializers, so the map lives in a function-local
// static (constructed on first use, whatever the initialization order of the
// translation units) and is guarded by a mutex.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "tasks/task.h"

namespace evald::tasks {
namespace {

struct Registry {
  absl::Mutex mu;
  std::map<std::string, TaskFactory> factories ABSL_GUARDED_BY(mu);
  TaskFileFactory file_factory ABSL_GUARDED_BY(mu);
};

Registry& GetRegistry() {
  // Never destroyed: static destructors of other units may still look tasks up.
  static Registry* const registry = new Registry;
  return *registry;
}

}  // namespace

void RegisterTask(const std::string& name, TaskFactory factory) {
  Registry& registry = GetRegistry();
  absl::MutexLock lock(&registry.mu);
  // A later registration of the same name replaces the earlier one; names
  // are unique within evald, so this only matters to tests.
  registry.factories[name] = std::move(factory);
}

void RegisterTaskFileFactory(TaskFileFactory factory) {
  Registry& registry = GetRegistry();
  absl::MutexLock lock(&registry.mu);
  registry.file_factory = std::move(factory);
}

absl::StatusOr<std::unique_ptr<Task>> CreateTask(const std::string& name,
                                                 const TaskOptions& options) {
  if (!options.task_file.empty()) {
    TaskFileFactory file_factory;
    {
      Registry& registry = GetRegistry();
      absl::MutexLock lock(&registry.mu);
      file_factory = registry.file_factory;
    }
    if (!file_factory) {
      return absl::UnimplementedError(absl::StrCat(
          options.task_file, ": task files are not supported by this build"));
    }
    return file_factory(name, options);
  }
  TaskFactory factory;
  {
    Registry& registry = GetRegistry();
    absl::MutexLock lock(&registry.mu);
    auto it = registry.factories.find(name);
    if (it == registry.factories.end()) {
      std::vector<std::string> known;
      for (const auto& [known_name, unused] : registry.factories)
        known.push_back(known_name);
      return absl::NotFoundError(
          absl::StrCat("unknown task \"", name,
                       "\" (known: ", absl::StrJoin(known, ", "), ")"));
    }
    factory = it->second;
  }
  // The factory runs outside the lock: it reads and validates the dataset.
  return factory(options);
}

std::vector<std::string> RegisteredTasks() {
  Registry& registry = GetRegistry();
  absl::MutexLock lock(&registry.mu);
  std::vector<std::string> names;
  names.reserve(registry.factories.size());
  for (const auto& [name, unused] : registry.factories) names.push_back(name);
  return names;
}

}  // namespace evald::tasks
