// File: daemon/cluster/coordinator.h
// -----------------------------------------------------------------------------
// The cluster manager of sharded runs (spec.cluster.slurm): the daemon that
// receives such a run stays its coordinator and the only writer of its store,
// and Slurm computes it. Submit stores the run with one ShardState per shard
// and submits one job array (`evald worker` per element, --requeue); if
// sbatch refuses it, the run is deleted again, so nothing is stored half-way.
//
// One thread polls every running sharded run: it reads its array jobs'
// elements from Slurm (scontrol), marks a shard DONE once every one of its
// documents is stored, and counts a failure for a shard whose job reached a
// final state (or that Slurm forgot) with documents missing. A shard that
// failed more than max_failures times fails the run with Slurm's state, the
// node, the job and the last lines of the job's output; otherwise the
// missing shards are submitted again as a new array. A job Slurm requeued
// itself (PENDING again) is waited for. When every shard is done, every task
// is aggregated from its stored samples by the code the local executor uses
// (daemon/aggregate.h) and the run succeeds.
//
// Everything is derived from the store and Slurm, never from memory: a
// restarted coordinator (even after SIGKILL) re-attaches to the jobs listed
// in run.slurm_jobs and submits nothing for shards that are pending,
// running or done.
//
// Thread-safety: all public methods are thread-safe. One thread, started by
// Start() and joined by Stop() or the destructor. Borrowed objects must
// outlive the coordinator.
#ifndef EVALD_DAEMON_CLUSTER_COORDINATOR_H_
#define EVALD_DAEMON_CLUSTER_COORDINATOR_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "daemon/cluster/shard_service.h"
#include "daemon/cluster/slurm.h"
#include "proto/store.pb.h"
#include "store/store.h"

namespace evald::daemon::cluster {

struct CoordinatorOptions {
  std::string data_dir;
  // The evald binary the jobs run, unless the spec names one (default: the
  // daemon's own).
  std::string evald;
  // HOST:PORT workers dial (--cluster-address), unless the spec names one.
  std::string cluster_address;
  // The daemon's token file (absolute): the jobs get its path, never the
  // token. "" when the daemon has none.
  std::string token_file;
  // Whether the daemon serves TCP (which always carries the token).
  bool serves_tcp = false;
  // How often running sharded runs are polled.
  absl::Duration poll_interval = absl::Seconds(5);
  SlurmCommands slurm;
  // Lines of a failed job's output quoted in the run's error.
  int log_tail_lines = 10;
};

class Coordinator {
 public:
  Coordinator(CoordinatorOptions options, store::Store* store,
              ShardService* shards, const base::Clock* clock);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // What a sharded run needs before anything is stored: sbatch on PATH, a
  // coordinator address and a TCP listener with a token (transport grpc),
  // and no task with a pairwise baseline. One line each, naming the field.
  absl::Status CheckSubmit(const v1::RunSpec& spec) const;
  // Stores `run` (spec checked and fingerprinted) as a running sharded run
  // and submits its job array. Task data paths become absolute, each task's
  // document count is recorded, one ShardState per shard. If sbatch
  // refuses, the run is deleted and sbatch's line returned.
  absl::StatusOr<v1::RunRecord> Submit(v1::RunRecord run);
  // scancels the run's jobs and marks it CANCELLED; FailedPrecondition when
  // it already finished.
  absl::StatusOr<v1::RunState> Cancel(const std::string& run_id);

  void Start();
  void Stop();
  // One pass over every running sharded run (what the thread does each
  // poll interval).
  void PollOnce();

 private:
  void Loop();
  // One pass over one run, under the shard service's lock.
  absl::Status PollRun(const std::string& run_id);
  WorkerJob JobFor(const v1::RunRecord& run) const;
  // Submits `indices` of `run` as one array and records it on the run.
  absl::Status SubmitShards(v1::RunRecord& run,
                            const std::vector<int32_t>& indices);
  // Aggregates every task and marks the run SUCCEEDED (or FAILED).
  void FinishRun(v1::RunRecord& run);
  std::string LogTail(const std::string& path) const;
  // Transport files: feeds what the run's workers wrote under its shared
  // dir since the last poll through the shard service (Claim for .worker,
  // Put for .samples, Finish for .finish), each once per poll thread's life;
  // after a restart everything is read again and the samples already
  // stored are left as they are.
  void IngestFiles(const v1::RunRecord& run);

  const CoordinatorOptions options_;
  store::Store* store_;
  ShardService* shards_;
  const base::Clock* clock_;
  Slurm slurm_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
  // The files transport's progress; used by the poll thread only.
  std::set<std::string> ingested_workers_;
  std::set<std::string> refused_workers_;
  std::set<std::string> ingested_finishes_;
  std::map<std::string, int64_t> samples_offsets_;
  // Per run and task: the stored documents, as of a progress count.
  struct StoredDocs {
    int64_t marker = -1;
    std::set<int64_t> docs;
  };
  std::map<std::string, std::map<std::string, StoredDocs>> stored_docs_;
};

}  // namespace evald::daemon::cluster

#endif  // EVALD_DAEMON_CLUSTER_COORDINATOR_H_
