#include "daemon/aggregate.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "daemon/task_records.h"

namespace evald::daemon {

absl::Status AggregateStoredTask(store::Store& store, const std::string& run_id,
                                 const std::string& task_name,
                                 const tasks::Task& task, int64_t expected) {
  ASSIGN_OR_RETURN(std::vector<v1::SampleRecord> stored,
                   store.ListSamples(run_id, task_name));
  if (static_cast<int64_t>(stored.size()) != expected) {
    return absl::InternalError(
        absl::StrCat("task '", task_name, "': ", stored.size(),
                     " samples stored, expected ", expected));
  }
  std::vector<tasks::SampleResult> samples;
  samples.reserve(stored.size());
  for (const v1::SampleRecord& s : stored)
    samples.push_back(FromSampleRecord(s));
  return store.PutScores(
      ToTaskScores(run_id, task_name, task.Aggregate(samples)));
}

}  // namespace evald::daemon
