// File: store/keys.h
// -----------------------------------------------------------------------------
// Order-preserving key encodings for the store's column families. Byte-wise
// (memcmp) order of the keys is the order listings need, so every listing is
// a range or prefix scan:
//
//   runs, fingerprints  run_id                     r20261122T084512Z-0007
//   samples             run_id \0 task \0 be64(doc_index)
//   scores              run_id \0 task
//   queue               be32(~biased priority) be64(seq)
//   meta (progress)     "progress" \0 run_id \0 task
//
// Run ids are "r" + UTC second + "Z-" + a 4-digit sequence within that second,
// so they sort by creation time. Names (run ids, task names) must be
// non-empty and free of NUL bytes, which is what keeps prefixes unambiguous.
// Pure functions; thread-safe.
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

// "r20261122T084512Z-0007" for 2026-11-22 08:45:12 UTC, sequence 7. The time
// is truncated to the second. REQUIRES: 0 <= sequence <= kMaxRunIdSequence.
std::string FormatRunId(absl::Time time, int sequence);

// A run id's second and sequence, or nullopt when `id` is not in the format
// FormatRunId writes.
struct ParsedRunId {
  absl::Time time;
  int sequence = 0;
};
std::optional<ParsedRunId> ParseRunId(absl::string_view id);

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

// Fixed meta keys.
inline constexpr absl::string_view kSchemaVersionKey = "schema_version";
inline constexpr absl::string_view kNextQueueSeqKey = "next_queue_seq";

// Big-endian fixed-width integers, so byte order equals numeric order.
void AppendBigEndian64(uint64_t v, std::string* out);
uint64_t ReadBigEndian64(absl::string_view bytes);  // REQUIRES: size() >= 8

}  // namespace evald::store::keys

#endif  // EVALD_STORE_KEYS_H_
