// File: store/store_options.h
// -----------------------------------------------------------------------------
// Options for opening a Store, the column families it holds, and the filter
// for listing runs. Plain value types; copy freely.
#ifndef EVALD_STORE_STORE_OPTIONS_H_
#define EVALD_STORE_STORE_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "proto/store.pb.h"

namespace evald::base {
class Clock;
}  // namespace evald::base

namespace evald::store {

struct StoreOptions {
  // Directory of the RocksDB database (created when missing and allowed).
  std::string path;
  // Create the database and its column families when absent. Ignored when
  // read_only.
  bool create_if_missing = true;
  // Open without the writer's lock (RocksDB OpenForReadOnly), so a reader can
  // inspect a store that a daemon holds open. The reader sees what was
  // committed when it opened; every write returns FailedPrecondition.
  bool read_only = false;
  // fsync the write-ahead log on every write. Off: a write survives the
  // death of the process (SIGKILL) but not of the machine. On: it survives
  // both, at the cost of one fsync per write.
  bool sync = false;
  // Time source for run ids and timestamps the store fills in. Not owned;
  // must outlive the Store. nullptr means the real clock.
  const base::Clock* clock = nullptr;
};

// The column families of the database. Each holds one kind of record; the
// key layouts are in store/keys.h.
enum class ColumnFamily {
  kRuns,          // run id -> RunRecord (fingerprint kept apart)
  kSamples,       // run id, task, doc index -> SampleRecord
  kScores,        // run id, task -> TaskScores
  kFingerprints,  // run id -> Fingerprint
  kHashCache,     // file path -> HashCacheEntry
  kQueue,         // priority (descending), seq -> QueueEntry
  kTags,          // tag name -> run id
  kMeta,          // schema version, counters, per-task progress markers
};
inline constexpr int kNumColumnFamilies = 8;

// The RocksDB name of a column family ("runs", "samples", ...).
const char* ColumnFamilyName(ColumnFamily cf);

// Which runs ListRuns returns. Unset fields do not filter.
struct RunFilter {
  // Every pair must be present in the run's spec.labels.
  std::map<std::string, std::string> labels;
  // Only runs created at or after this time.
  std::optional<int64_t> since_unix_ms;
  // Only runs in this state.
  std::optional<evald::v1::RunState> state;
  // At most this many runs (the newest ones); 0 means no limit.
  size_t limit = 0;
  // Attach each run's fingerprint (a separate read per run).
  bool with_fingerprint = false;
};

}  // namespace evald::store

#endif  // EVALD_STORE_STORE_OPTIONS_H_
