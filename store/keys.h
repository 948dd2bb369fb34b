// File: store/keys.h
// -----------------------------------------------------------------------------
// Order-preserving key encodings for the store's column families. Byte-wise
// (memcmp) order of the keys is the order listings need, so every listing is
// a range or prefix scan:
//
//   runs, fingerprints  run_id              r20261122T084512Z-0007-k3q9x2ma
//   samples             run_id \0 task \0 be64(doc_index)
//   scores              run_id \0 task
//   queue               be32(~biased priority) be64(seq)
//   meta (progress)     "progress" \0 run_id \0 task
//
// Run ids are "r" + UTC second + "Z-" + a 4-digit sequence within that second
// + "-" + the minting store's instance id (8 characters of [a-z2-7], drawn at
// random once per store and kept in its meta), so they sort by creation time
// and two stores never mint the same id: runs move between stores (export,
// import) keeping their ids. Ids made before instance ids existed have no
// suffix ("r20261122T084512Z-0007"); they still parse and sort. Names (run ids,
// task names) must be non-empty and free of NUL bytes, which is what keeps
// prefixes unambiguous. Pure functions; thread-safe.
#ifndef EVALD_STORE_KEYS_H_
#define EVALD_STORE_KEYS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace evald::store::keys {

// The largest sequence number a run id can carry within one second.
inline constexpr int kMaxRunIdSequence = 9999;

// Length of a store's instance id, the last part of the run ids it mints.
inline constexpr size_t kInstanceIdLength = 8;

// "r20261122T084512Z-0007-k3q9x2ma" for 2026-11-22 08:45:12 UTC, sequence 7,
// instance "k3q9x2ma"; with an empty instance the old form
// "r20261122T084512Z-0007". The time is truncated to the second.
// REQUIRES: 0 <= sequence <= kMaxRunIdSequence; instance empty or valid
// (IsInstanceId).
std::string FormatRunId(absl::Time time, int sequence,
                        absl::string_view instance = "");

// A run id's second, sequence and instance (empty for an old id), or nullopt
// when `id` is in neither form FormatRunId writes.
struct ParsedRunId {
  absl::Time time;
  int sequence = 0;
  std::string instance;
};
std::optional<ParsedRunId> ParseRunId(absl::string_view id);

// True when `s` is kInstanceIdLength characters of [a-z0-9].
bool IsInstanceId(absl::string_view s);
// A fresh instance id: 40 random bits (std::random_device) as [a-z2-7].
std::string NewInstanceId();

// OK when `name` can be a key component; otherwise InvalidArgument naming
// `what` (e.g. "run id", "task name").
absl::Status ValidateName(absl::string_view what, absl::string_view name);

std::string SampleKey(absl::string_view run_id, absl::string_view task,
                      uint64_t doc_index);
// Prefix of every sample key of (run_id, task), in doc_index order.
std::string SamplePrefix(absl::string_view run_id, absl::string_view task);
// The doc index of a key built by SampleKey, or nullopt if `key` does not
// start with `prefix` followed by exactly 8 bytes.
std::optional<uint64_t> DocIndexFromSampleKey(absl::string_view prefix,
                                              absl::string_view key);

std::string ScoresKey(absl::string_view run_id, absl::string_view task);
// Prefix of every scores key of `run_id` (all its tasks).
std::string RunPrefix(absl::string_view run_id);

// Higher priority sorts first; equal priorities sort by seq ascending (FIFO).
std::string QueueKey(int32_t priority, uint64_t seq);

std::string ProgressKey(absl::string_view run_id, absl::string_view task);
std::string ProgressPrefix(absl::string_view run_id);

// meta: "figures" \0 run_id \0 be64(attempt) -> AttemptFigures.
std::string FiguresKey(absl::string_view run_id, int32_t attempt);
std::string FiguresPrefix(absl::string_view run_id);

// meta: "importing" \0 run_id -> "" while a RunImport stores the run.
std::string ImportingKey(absl::string_view run_id);
inline constexpr absl::string_view kImportingPrefix{"importing\0", 10};

// Fixed meta keys.
inline constexpr absl::string_view kSchemaVersionKey = "schema_version";
inline constexpr absl::string_view kNextQueueSeqKey = "next_queue_seq";
inline constexpr absl::string_view kInstanceIdKey = "instance_id";

// Big-endian fixed-width integers, so byte order equals numeric order.
void AppendBigEndian64(uint64_t v, std::string* out);
uint64_t ReadBigEndian64(absl::string_view bytes);  // REQUIRES: size() >= 8

}  // namespace evald::store::keys

#endif  // EVALD_STORE_KEYS_H_
