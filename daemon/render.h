// File: daemon/render.h
// -----------------------------------------------------------------------------
// How evalctl shows runs, results, samples and progress: aligned tables for
// people and one JSON document per command for machines (`--json`, protobuf's
// JSON mapping with the .proto field names).
//
// Thread-safety: pure functions.
#ifndef EVALD_DAEMON_RENDER_H_
#define EVALD_DAEMON_RENDER_H_

#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "proto/service.pb.h"

namespace evald::daemon {

std::string ToJson(const google::protobuf::Message& message);

// "succeeded", "running", ...
std::string StateName(v1::RunState state);

// Rows of cells → columns padded to their widest cell, two spaces apart.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

std::string FormatRunList(const v1::ListRunsResponse& runs);
std::string FormatResults(const v1::GetResultsResponse& results);
std::string FormatSamples(const v1::ListSamplesResponse& samples);
// One sample of FormatSamples (for printing samples as they arrive).
std::string FormatSample(const v1::SampleRecord& sample);
std::string FormatEnvironment(const v1::GetEnvironmentResponse& env);
// One line: "RUN running | mmlu 40/57 | gsm8k 0/4 | 35.2 tok/s | cache 81% |
// ETA 12s", with a "[####....]" bar of `bar_width` cells after the state when >
// 0.
std::string FormatProgressLine(const v1::WatchEvent& event, int bar_width = 0);
// "pending", "running", "done", "failed".
std::string ShardStatusName(v1::ShardStatus status);
// A sharded run's shards, one line each: index, state, node, Slurm job id
// and state, documents stored of the shard's, failures; "" for a local run.
std::string FormatShards(const v1::RunRecord& run);

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_RENDER_H_
