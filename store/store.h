// File: store/store.h
// -----------------------------------------------------------------------------
// The evald store: runs, per-document samples, per-task scores, environment
// fingerprints, the file-hash cache, the job queue and tags, persisted in one
// RocksDB database with one column family per kind (store_options.h).
//
// Durability: every write is in RocksDB's write-ahead log before the call
// returns, so a process killed with SIGKILL loses nothing a returned call
// wrote; StoreOptions::sync extends that to machine crashes.
//
// Ownership and threads: a Store owns its database handle and is thread-safe.
// One process opens a store for writing at a time (RocksDB's lock; a second
// writer gets FailedPrecondition); any number may open it read-only.
// Errors name the path, run, task or key at fault.
#ifndef EVALD_STORE_STORE_H_
#define EVALD_STORE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/file.h"
#include "proto/store.pb.h"
#include "store/store_options.h"

namespace rocksdb {
class WriteBatch;
}  // namespace rocksdb

namespace evald::store {

// Records a read could not parse, one line each ("run \"r...\": unreadable
// record (...)"), for the caller to report.
using Unreadable = std::vector<std::string>;

// What DeleteRun removed.
struct DeletedRun {
  int64_t samples = 0;
  int64_t scores = 0;
  bool was_queued = false;
  std::vector<std::string> tags;  // tags that pointed at the run
};

// One finding of Store::Check.
struct CheckProblem {
  std::string
      record;  // e.g. "run \"r20261122T084512Z-0007\"", "sample ... doc 3"
  std::string problem;
  std::string repair;  // what repair did (or would do)
};

struct CheckReport {
  int64_t records = 0;  // records read
  std::vector<CheckProblem> problems;
  bool repaired = false;  // the repairs were written
};

class Store {
 public:
  // Opens (and by default creates) the store at options.path.
  static absl::StatusOr<std::unique_ptr<Store>> Open(
      const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return options_.path; }
  bool read_only() const { return options_.read_only; }

  // A fresh run id for a run created at `now`: time-ordered, unique within
  // this store even for many runs in one second or a clock that steps back.
  std::string NewRunId(absl::Time now);

  // ---- Runs ----------------------------------------------------------------
  // Stores a new run and enqueues it (spec.priority) in one atomic write.
  // Fills in, when unset: id (NewRunId of created time), created_unix_ms
  // (now), state (QUEUED). AlreadyExists if the id is taken. Returns the run
  // as stored.
  absl::StatusOr<evald::v1::RunRecord> CreateRun(evald::v1::RunRecord run);
  // Stores a finished run made elsewhere (`evalctl import`) with its scores
  // and samples in one atomic write: all of it or nothing. The run is not
  // queued. Fills in id and created_unix_ms as CreateRun does; the samples'
  // and scores' run ids are set to the run's, and each task's progress
  // marker counts its samples. AlreadyExists if the id is taken.
  absl::StatusOr<evald::v1::RunRecord> ImportRun(
      evald::v1::RunRecord run, std::vector<evald::v1::TaskScores> scores,
      std::vector<evald::v1::SampleRecord> samples);
  // Overwrites a run record. A record without a fingerprint keeps the stored
  // one. progress[].done is maintained by PutSample and need not be passed.
  // With `fold_figures` the run's AttemptFigures records are removed in the
  // same write: the caller's run.stats and .phases include them.
  absl::Status PutRun(const evald::v1::RunRecord& run,
                      bool fold_figures = false);
  // Adds the figures of the run's attempts not yet folded into its record
  // (the running attempt's, or a killed one's) to run->stats and ->phases:
  // the run's totals for people, or what to fold with PutRun.
  absl::Status AddUnfoldedFigures(evald::v1::RunRecord* run,
                                  Unreadable* unreadable = nullptr);
  // The run with its fingerprint and per-task progress. NotFound names the
  // id; DataLoss when the run's own record cannot be read (a damaged
  // fingerprint or progress marker is left out and named in `unreadable`).
  absl::StatusOr<evald::v1::RunRecord> GetRun(absl::string_view run_id,
                                              Unreadable* unreadable = nullptr);
  // Runs matching `filter`, newest first. A record that cannot be read is
  // skipped and named in `unreadable` (and logged), never an error.
  absl::StatusOr<std::vector<evald::v1::RunRecord>> ListRuns(
      const RunFilter& filter, Unreadable* unreadable = nullptr);
  absl::StatusOr<evald::v1::Fingerprint> GetFingerprint(
      absl::string_view run_id);
  // Removes a run and everything of it: record, fingerprint, samples,
  // scores, progress markers, queue entries and the tags that point at it,
  // in one atomic write. Works on a run whose record cannot be read.
  // NotFound names an unknown id. The caller decides whether the run may be
  // deleted (the daemon refuses a running one).
  absl::StatusOr<DeletedRun> DeleteRun(absl::string_view run_id);

  // ---- Samples -------------------------------------------------------------
  // Stores one finished document and advances the (run, task) progress marker
  // in the same WriteBatch, so a crash never separates them. Rewriting a doc
  // already stored replaces it without counting it twice. `figures` (may be
  // null): the running attempt's figures so far, written in the same batch.
  absl::Status PutSample(const evald::v1::SampleRecord& sample,
                         const evald::v1::AttemptFigures* figures = nullptr);
  // PutSample, unless (run, task, doc) is already stored: then nothing is
  // written. Returns whether it wrote. The check and the write happen under
  // one lock, so of concurrent deliveries of one document exactly one is
  // stored (a sharded run's workers may deliver a document twice).
  absl::StatusOr<bool> PutSampleIfAbsent(
      const evald::v1::SampleRecord& sample,
      const evald::v1::AttemptFigures* figures = nullptr);
  // Samples of (run, task) in doc_index order; unreadable ones are skipped
  // and named in `unreadable`.
  absl::StatusOr<std::vector<evald::v1::SampleRecord>> ListSamples(
      absl::string_view run_id, absl::string_view task,
      Unreadable* unreadable = nullptr);
  // Visits the samples of (run, task) in doc_index order, one at a time, so
  // a task of any size is read in bounded memory; unreadable ones are skipped
  // and named in `unreadable`. `visit` returning false stops the scan.
  absl::Status ScanSamples(
      absl::string_view run_id, absl::string_view task,
      const std::function<bool(evald::v1::SampleRecord)>& visit,
      Unreadable* unreadable = nullptr);
  absl::StatusOr<int64_t> CountSamples(absl::string_view run_id,
                                       absl::string_view task);
  // The doc indices of (run, task) stored and readable: what a resumed run
  // skips (an unreadable sample is computed again and overwritten).
  absl::StatusOr<std::set<int64_t>> DoneDocIndices(absl::string_view run_id,
                                                   absl::string_view task);

  // ---- Scores --------------------------------------------------------------
  absl::Status PutScores(const evald::v1::TaskScores& scores);
  // Every task's scores of a run, in task-name order (empty if none yet);
  // unreadable ones are skipped and named in `unreadable`.
  absl::StatusOr<std::vector<evald::v1::TaskScores>> GetScores(
      absl::string_view run_id, Unreadable* unreadable = nullptr);

  // ---- Integrity -----------------------------------------------------------
  // Reads every record of every column family and reports what is wrong:
  // records that do not parse, records of runs that do not exist, progress
  // markers that disagree with the samples, queue entries and tags that
  // point nowhere. With `repair` it also mends them in one atomic write:
  // invalid UTF-8 (written before the store escaped it) is escaped, records
  // that cannot be read at all are removed (a run with everything of it),
  // orphans are removed and markers recounted. Records of runs in `skip`
  // (the daemon's running run) are checked but never changed.
  absl::StatusOr<CheckReport> Check(bool repair,
                                    const std::set<std::string>& skip = {});

  // ---- Queue: highest priority first, then first in, first out -------------
  absl::Status Enqueue(absl::string_view run_id, int32_t priority);
  // Removes and returns the head of the queue; nullopt when empty.
  absl::StatusOr<std::optional<evald::v1::QueueEntry>> Dequeue();
  absl::StatusOr<std::optional<evald::v1::QueueEntry>> PeekQueue();
  // Takes the next runnable run off the queue and marks it RUNNING
  // (started_unix_ms = now unless already set) in one atomic write, so a
  // crash cannot leave a run neither queued nor running. Queue entries whose
  // run is no longer QUEUED (e.g. cancelled before it was dequeued) or no
  // longer exists are dropped on the way. nullopt when nothing is runnable.
  absl::StatusOr<std::optional<evald::v1::RunRecord>> ClaimNextRun();
  // NotFound (naming the run) when the run is not queued. To cancel a queued
  // run, write its CANCELLED state first, then remove it: a crash in between
  // leaves an entry that ClaimNextRun drops.
  absl::Status RemoveFromQueue(absl::string_view run_id);
  // The queue in the order Dequeue would return it.
  absl::StatusOr<std::vector<evald::v1::QueueEntry>> ListQueue();

  // ---- File-hash cache -----------------------------------------------------
  // The cached sha256 of `path`, only if size, mtime, inode and device all
  // equal `identity`; nullopt otherwise.
  absl::StatusOr<std::optional<std::string>> GetHash(
      absl::string_view path, const base::FileIdentity& identity);
  absl::Status PutHash(const evald::v1::HashCacheEntry& entry);

  // ---- Tags ----------------------------------------------------------------
  // Points `name` at an existing run (moving it if it pointed elsewhere).
  absl::Status PutTag(absl::string_view name, absl::string_view run_id);
  // The run a tag points at; NotFound names the tag.
  absl::StatusOr<std::string> ResolveTag(absl::string_view name);
  // (tag, run id) pairs in tag order.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListTags();

 private:
  struct Handles;
  Store(StoreOptions options, std::unique_ptr<Handles> handles);

  absl::Time Now() const;
  absl::Status CheckWritable(absl::string_view what) const;
  // PutSample and PutSampleIfAbsent; false when `only_if_absent` found the
  // document stored and wrote nothing.
  absl::StatusOr<bool> WriteSample(const evald::v1::SampleRecord& sample,
                                   const evald::v1::AttemptFigures* figures,
                                   bool only_if_absent);
  absl::Status Write(rocksdb::WriteBatch* batch, absl::string_view what);
  // The value at `key`, or nullopt when absent.
  absl::StatusOr<std::optional<std::string>> Get(ColumnFamily cf,
                                                 absl::string_view key,
                                                 absl::string_view what);
  // Calls `visit` for each key starting with `prefix`, in key order; stops at
  // the first error.
  absl::Status ScanPrefix(
      ColumnFamily cf, absl::string_view prefix, absl::string_view what,
      const std::function<absl::Status(absl::string_view key,
                                       absl::string_view value)>& visit);
  absl::StatusOr<bool> RunExists(absl::string_view run_id);
  // NotFound naming the run unless it exists.
  absl::Status RequireRun(absl::string_view run_id);
  absl::Status AddRunToBatch(const evald::v1::RunRecord& run,
                             rocksdb::WriteBatch* batch);
  absl::Status AttachProgress(evald::v1::RunRecord* run,
                              Unreadable* unreadable);
  // Adds the deletion of every record of `run_id` to `batch`.
  absl::Status AddRunDeletionToBatch(absl::string_view run_id,
                                     rocksdb::WriteBatch* batch,
                                     DeletedRun* deleted);
  // (key, entry) of the first `max` queue entries in queue order; 0: all.
  absl::StatusOr<std::vector<std::pair<std::string, evald::v1::QueueEntry>>>
  ScanQueue(size_t max);
  // Adds a queue entry for `run_id` (and the advanced sequence counter) to
  // `batch`; AlreadyExists when the run is already queued.
  absl::Status AddToQueueLocked(absl::string_view run_id, int32_t priority,
                                rocksdb::WriteBatch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const StoreOptions options_;
  std::unique_ptr<Handles> handles_;
  // Serialises read-modify-write operations (create, sample counting, queue
  // sequence numbers); plain reads and blind writes do not take it.
  absl::Mutex write_mu_;
  uint64_t next_queue_seq_ ABSL_GUARDED_BY(write_mu_) = 0;
  absl::Mutex id_mu_;
  std::string last_run_id_ ABSL_GUARDED_BY(id_mu_);
};

}  // namespace evald::store

#endif  // EVALD_STORE_STORE_H_
