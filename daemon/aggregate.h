// File: daemon/aggregate.h
// -----------------------------------------------------------------------------
// A task's scores from its stored samples: the one aggregation step of a run,
// used by the local executor and by the cluster coordinator alike, so a
// sharded run's scores are computed by the same code as a local run's.
// Aggregating only what is stored is what makes a resumed (or sharded) run's
// scores equal an uninterrupted one's.
//
// Thread-safety: as thread-safe as the store (it is); `task` is only read.
#ifndef EVALD_DAEMON_AGGREGATE_H_
#define EVALD_DAEMON_AGGREGATE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "store/store.h"
#include "tasks/task.h"

namespace evald::daemon {

// Reads every stored sample of (run_id, task_name), checks there are
// `expected` of them, aggregates them with `task` and stores the task's
// scores. Internal error naming the task when the count differs.
absl::Status AggregateStoredTask(store::Store& store, const std::string& run_id,
                                 const std::string& task_name,
                                 const tasks::Task& task, int64_t expected);

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_AGGREGATE_H_
