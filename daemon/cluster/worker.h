// File: daemon/cluster/worker.h
// -----------------------------------------------------------------------------
// `evald worker`: the process that computes one shard of a sharded run on a
// compute node. It fingerprints its environment and the run's inputs as it
// sees them, claims the shard (which gives it the spec, the run's attempt,
// and per task the documents still to compute), loads the candidate (and
// judge) through its own ModelCache, runs only those documents, and hands
// the finished samples to its transport in batches (every 32 samples or
// 0.5 s, and at the end). It has no store: the coordinator stores each
// sample exactly once, keyed by run, task and document.
//
// Two transports: gRPC to the coordinator (GetRun, ClaimShard,
// PutShardSamples, FinishShard; UNAVAILABLE and DEADLINE_EXCEEDED are
// retried with backoff, so a coordinator restart loses nothing), and files
// under a shared folder (daemon/cluster/shard_files.h) for nodes that cannot
// reach the coordinator.
//
// Thread-safety: RunShard runs one shard on the calling thread plus one
// sender thread it joins; `stop` may be set from any thread.
#ifndef EVALD_DAEMON_CLUSTER_WORKER_H_
#define EVALD_DAEMON_CLUSTER_WORKER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/model_cache.h"
#include "proto/service.pb.h"

namespace evald::daemon::cluster {

// Where a worker's claim comes from and its samples go.
class ShardTransport {
 public:
  virtual ~ShardTransport() = default;
  // The run's spec as far as the worker needs it before claiming (to
  // fingerprint the models and datasets it will use).
  virtual absl::StatusOr<v1::RunSpec> GetSpec() = 0;
  virtual absl::StatusOr<v1::ClaimShardResponse> Claim(
      const v1::ClaimShardRequest& request) = 0;
  // Delivers one batch; true when the coordinator asks the worker to stop
  // (the run was cancelled or failed).
  virtual absl::StatusOr<bool> Put(const v1::PutShardSamplesRequest& batch) = 0;
  virtual absl::Status Finish(const v1::FinishShardRequest& request) = 0;
  // A pairwise judged task's baseline answers (its stored samples of
  // `task`, by doc id).
  virtual absl::StatusOr<std::map<std::string, std::string>> BaselineResponses(
      const std::string& run_id, const std::string& task) = 0;
  // "coordinator unix:/x.sock", "shared dir /scratch/evald": for messages.
  virtual std::string Describe() const = 0;
};

// Dials `address` (HOST:PORT or unix:PATH) with `token` (may be empty on a
// socket). Calls failing with UNAVAILABLE or DEADLINE_EXCEEDED are retried
// with backoff for up to `retry_for`; once `*stop` is set, for at most
// `retry_after_stop` more.
std::unique_ptr<ShardTransport> MakeGrpcTransport(
    const std::string& address, const std::string& token,
    const std::string& run_id, absl::Duration retry_for,
    absl::Duration retry_after_stop, const std::atomic<bool>* stop);

// SHARED/RUN/shard-<i>.claim in, this worker's .worker, .samples and
// .finish files out (shard_files.h).
std::unique_ptr<ShardTransport> MakeFilesTransport(
    const std::string& shared_dir, const std::string& run_id, int32_t shard,
    const std::string& worker_id);

struct WorkerOptions {
  std::string run_id;
  int32_t shard = -1;
  std::string node;          // the hostname
  std::string slurm_job_id;  // "<array job>_<index>"; "" outside Slurm
  // Scratch folder; tasks without an absolute data path look under it.
  std::string data_dir;
  // Where default datasets (tasks without `data:`) are looked for while
  // fingerprinting before the claim gives absolute paths.
  std::string datasets_root;
  int flush_samples = 32;
  absl::Duration flush_interval = absl::Milliseconds(500);
  // Set on SIGTERM: start nothing new, send what is done, finish with an
  // error. RunShard sets it too, to stop the tasks when samples can no
  // longer be delivered or the coordinator says stop. Null: a flag of its
  // own.
  std::atomic<bool>* stop = nullptr;
};

// Writes "worker: LINE" to stderr (the Slurm job's output file) and keeps
// the last 20 lines for FinishShardRequest.log_tail. Thread-safe.
void WorkerLog(const std::string& line);
std::string WorkerLogTail();

// "shard 2 on node7 (job 1234_2)": SampleRecord.worker.
std::string WorkerLabel(const WorkerOptions& options);

// Claims and computes the shard, delivering every sample through
// `transport`, and reports the end with Finish. OK only when every todo
// document was delivered; otherwise the error (also sent as the finish's
// error when the transport still answers).
absl::Status RunShard(const WorkerOptions& options, ShardTransport& transport,
                      ModelCache& models, const v1::Fingerprint& host);

// `evald worker ...` (argv[0] is "worker"): flags, signals, engine setup,
// RunShard. Returns the process exit code: 0 when every todo sample was
// delivered, 1 when the shard failed or was stopped, 2 for bad flags.
int WorkerMain(int argc, char** argv);

}  // namespace evald::daemon::cluster

#endif  // EVALD_DAEMON_CLUSTER_WORKER_H_
