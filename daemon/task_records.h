// File: daemon/task_records.h
// -----------------------------------------------------------------------------
// The one conversion between what tasks produce (tasks::SampleResult,
// tasks::MetricResult; tasks know nothing of the store) and what the store
// keeps (v1::SampleRecord, v1::TaskScores). A sample survives the round trip
// whole: a resumed run aggregates stored samples exactly as it would have
// aggregated the results themselves.
//
// Thread-safety: pure functions.
#ifndef EVALD_DAEMON_TASK_RECORDS_H_
#define EVALD_DAEMON_TASK_RECORDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "proto/store.pb.h"
#include "tasks/task.h"

namespace evald::daemon {

// Where a sample was made: its run, that run's attempt, its task, and when
// it finished.
struct SampleOrigin {
  std::string run_id;
  int32_t attempt = 0;
  std::string task;
  int64_t finished_unix_ms = 0;
};

v1::SampleRecord ToSampleRecord(const SampleOrigin& origin,
                                tasks::SampleResult result);
tasks::SampleResult FromSampleRecord(const v1::SampleRecord& record);

v1::TaskScores ToTaskScores(const std::string& run_id, const std::string& task,
                            absl::Span<const tasks::MetricResult> metrics);

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_TASK_RECORDS_H_
