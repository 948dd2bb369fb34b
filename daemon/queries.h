// File: daemon/queries.h
// -----------------------------------------------------------------------------
// Read-side operations over a Store, shared by the gRPC service and by
// evalctl's offline mode (`--data-dir DIR` with the daemon stopped), so both
// answer with the same messages.
//
// Thread-safety: as thread-safe as the Store they are given (which is).
#ifndef EVALD_DAEMON_QUERIES_H_
#define EVALD_DAEMON_QUERIES_H_

#include <functional>
#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/service.pb.h"
#include "store/store.h"

namespace evald::daemon {

// The store folder inside a data dir.
std::string StorePath(absl::string_view data_dir);

// Runs as people see them: stats and phases include the figures of
// attempts still running or killed (store::Store::AddUnfoldedFigures).
absl::StatusOr<v1::ListRunsResponse> ReadRuns(
    store::Store& store, const v1::ListRunsRequest& request);
absl::StatusOr<v1::GetResultsResponse> ReadResults(store::Store& store,
                                                   absl::string_view run_id);
// failed_only keeps samples with an error or any metric equal to 0.
// The samples `request` asks for (failed_only, limit), handed to `visit`
// one at a time as they are read; unreadable records go to `unreadable`.
// `visit` returning false stops the read.
absl::Status VisitSamples(store::Store& store,
                          const v1::ListSamplesRequest& request,
                          const std::function<bool(v1::SampleRecord)>& visit,
                          store::Unreadable* unreadable);
absl::StatusOr<v1::ListSamplesResponse> ReadSamples(
    store::Store& store, const v1::ListSamplesRequest& request);
absl::StatusOr<v1::GetEnvironmentResponse> ReadEnvironment(
    store::Store& store, absl::string_view run_id);

// Removes a run with everything stored of it (store::Store::DeleteRun).
absl::StatusOr<v1::DeleteRunResponse> DeleteStoredRun(store::Store& store,
                                                      absl::string_view run_id);
// Checks (and with `repair` mends) the store; runs in `skip` are not changed.
absl::StatusOr<v1::CheckStoreResponse> CheckStoredRecords(
    store::Store& store, bool repair, const std::set<std::string>& skip);

// Stores a run moved from another store (evald's run files, daemon/
// run_file.h) under its own id, in bounded memory: `first` carries the
// header, the run and its scores; `next` yields the sample chunks, then the
// end chunk, then nullopt. All or nothing: unless the end chunk came and
// counted what came before it, nothing stays stored. AlreadyExists when the
// store has the run. Errors start with `where`.
absl::StatusOr<v1::ImportRunResponse> ImportRunChunks(
    store::Store& store, v1::ImportRunChunk first,
    const std::function<absl::StatusOr<std::optional<v1::ImportRunChunk>>()>&
        next,
    absl::string_view where);

// The longest tag name.
inline constexpr size_t kMaxTagBytes = 128;
// A tag name: 1..kMaxTagBytes bytes of printable UTF-8 text without spaces,
// ':' (which starts "tag:NAME" references) or '/'. The error quotes at most
// the name's first 40 bytes.
absl::Status ValidateTagName(absl::string_view name);

// "since" durations for `list --since`: "7d", "12h", "30m", "90s".
absl::StatusOr<int64_t> ParseSinceMillis(absl::string_view text);

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_QUERIES_H_
