// File: daemon/cluster/shard_files.h
// -----------------------------------------------------------------------------
// The files transport of a sharded run, for compute nodes that cannot reach
// the coordinator: the coordinator and its workers meet in a folder of a
// shared file system (SlurmSpec.shared_dir, SHARED below). The format:
//
//   SHARED/RUN/shard-<i>.claim
//       Written by the coordinator before it submits shard i: one binary
//       v1::ClaimShardResponse (the spec with every task's data_path
//       absolute, the run's attempt, the claim number, and per task the
//       shard's range and its `todo` documents). Written to a temporary
//       name and renamed, so a worker never sees half of it.
//   SHARED/RUN/shard-<i>.<W>.worker
//       Written by a worker when it starts: one binary v1::ClaimShardRequest
//       (run, shard, node, Slurm job id, the worker's fingerprint);
//       temporary name + rename. W = "<node>-<pid>-<unix ms>" names this
//       worker process (node: the hostname with every character outside
//       [A-Za-z0-9_-] replaced by '_', so W has no '.'); a requeued or
//       resubmitted shard gets a new W and leaves the old files in place.
//   SHARED/RUN/shard-<i>.<W>.samples
//       Appended by that worker as samples finish: a sequence of
//       length-delimited v1::PutShardSamplesRequest messages (the size as a
//       base-128 varint, then that many bytes of the message), flushed and
//       fsync'ed after each batch. A worker killed mid-write leaves a
//       truncated last record: readers stop before it and read it again
//       once it is complete (it never will be; the next worker writes its
//       own file).
//   SHARED/RUN/shard-<i>.<W>.finish
//       Written by that worker when it ends: one binary
//       v1::FinishShardRequest (error "" when every todo document is in its
//       samples file, else the message; the log tail; the engine figures);
//       temporary name + rename. Its presence means the samples file is
//       complete.
//
// Files whose names do not follow these patterns (temporaries such as
// "*.tmp.<pid>") are ignored by ListShardFiles. Every file is written 0600
// in a folder created 0700.
//
// Thread-safety: the functions are thread-safe; a ShardSamplesWriter is not
// (one per worker).
#ifndef EVALD_DAEMON_CLUSTER_SHARD_FILES_H_
#define EVALD_DAEMON_CLUSTER_SHARD_FILES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/service.pb.h"

namespace evald::daemon::cluster {

// SHARED/RUN.
std::string ShardRunDir(const std::string& shared_dir,
                        const std::string& run_id);
// SHARED/RUN/shard-<i>.claim.
std::string ClaimFilePath(const std::string& shared_dir,
                          const std::string& run_id, int32_t shard);

// Creates SHARED/RUN (0700, parents as needed) and writes the claim file of
// `shard` atomically.
absl::Status WriteClaimFile(const std::string& shared_dir,
                            const std::string& run_id, int32_t shard,
                            const v1::ClaimShardResponse& claim);
// NotFound naming the path when it does not exist; DataLoss naming it when
// it does not parse.
absl::StatusOr<v1::ClaimShardResponse> ReadClaimFile(
    const std::string& shared_dir, const std::string& run_id, int32_t shard);

// "<node>-<pid>-<unix_ms>" with the node made safe for a file name.
std::string WorkerFileId(const std::string& node, int64_t pid, int64_t unix_ms);

// The files of one worker process of one shard.
struct WorkerFiles {
  int32_t shard = -1;
  std::string worker_id;     // W
  std::string worker_path;   // SHARED/RUN/shard-<i>.<W>.worker
  std::string samples_path;  // SHARED/RUN/shard-<i>.<W>.samples
  std::string finish_path;   // SHARED/RUN/shard-<i>.<W>.finish
  bool has_worker = false;   // which of them exist
  bool has_samples = false;
  bool has_finish = false;
};

// The paths of worker `worker_id` of `shard` (existence flags false).
WorkerFiles WorkerFilesFor(const std::string& shared_dir,
                           const std::string& run_id, int32_t shard,
                           const std::string& worker_id);

// Every worker's files under SHARED/RUN, by shard then worker id (so, for
// one node and pid, oldest first). An empty list when SHARED/RUN does not
// exist.
absl::StatusOr<std::vector<WorkerFiles>> ListShardFiles(
    const std::string& shared_dir, const std::string& run_id);

// The .worker and .finish files: one message each, written atomically.
absl::Status WriteWorkerFile(const std::string& path,
                             const v1::ClaimShardRequest& request);
absl::StatusOr<v1::ClaimShardRequest> ReadWorkerFile(const std::string& path);
absl::Status WriteFinishFile(const std::string& path,
                             const v1::FinishShardRequest& request);
absl::StatusOr<v1::FinishShardRequest> ReadFinishFile(const std::string& path);

// Appends batches to a .samples file.
class ShardSamplesWriter {
 public:
  // Opens (creating 0600, appending) `path`.
  static absl::StatusOr<ShardSamplesWriter> Open(const std::string& path);
  ShardSamplesWriter(ShardSamplesWriter&& other) noexcept;
  ShardSamplesWriter& operator=(ShardSamplesWriter&& other) noexcept;
  ~ShardSamplesWriter();

  // Writes one length-delimited record and fsyncs it. On error the file may
  // end in a truncated record, which readers skip.
  absl::Status Append(const v1::PutShardSamplesRequest& batch);
  const std::string& path() const { return path_; }

 private:
  ShardSamplesWriter(std::string path, int fd)
      : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

// The complete records of a .samples file from byte `*offset` on; `*offset`
// advances past them, so a later call reads only what was appended since. A
// truncated record at the end is left for the next read. A record that
// cannot be what a writer wrote (an oversized or malformed length, bytes
// that do not parse) is DataLoss naming the file and its offset. A missing
// file is NotFound naming it.
absl::StatusOr<std::vector<v1::PutShardSamplesRequest>> ReadShardSamples(
    const std::string& path, int64_t* offset);

}  // namespace evald::daemon::cluster

#endif  // EVALD_DAEMON_CLUSTER_SHARD_FILES_H_
