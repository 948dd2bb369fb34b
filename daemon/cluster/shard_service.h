// File: daemon/cluster/shard_service.h
// -----------------------------------------------------------------------------
// The coordinator's side of the worker RPCs (ClaimShard, PutShardSamples,
// FinishShard), called by the gRPC handlers of daemon/service.cc and by the
// files transport's poller alike. A worker claims one shard of a sharded run
// and learns which of its documents are not stored yet; its samples are
// stored exactly once per (run, task, document), whoever delivers them and
// however often; how a shard ended is recorded, but whether it is done is
// decided by the stored samples, never by the worker's word.
//
// ShardService also owns the lock under which every read-modify-write of a
// sharded run's record happens (claims, finishes, the cluster manager's
// polls, submit and cancel), so none of them overwrites another's change.
//
// Thread-safety: all methods are thread-safe. `store` and `clock` are
// borrowed and must outlive the service.
#ifndef EVALD_DAEMON_CLUSTER_SHARD_SERVICE_H_
#define EVALD_DAEMON_CLUSTER_SHARD_SERVICE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "daemon/cluster/shards.h"
#include "proto/service.pb.h"
#include "store/store.h"

namespace evald::daemon::cluster {

// True when the run is computed as shards on Slurm.
bool IsShardedRun(const v1::RunSpec& spec);

// A task's documents within one shard.
struct TaskRange {
  std::string task;
  DocRange range;
};

// Shard `index`'s documents of every task of `run`, from the task totals the
// run's progress records (set at submit), in the spec's task order.
std::vector<TaskRange> ShardTasks(const v1::RunRecord& run, int32_t index);

// Adds shard `index`'s tasks to `claim`: per task its range and the
// documents of it not stored yet (what a worker computes).
absl::Status AddShardTasks(store::Store& store, const v1::RunRecord& run,
                           int32_t index, v1::ClaimShardResponse* claim);

// "shard 2 on node7 (job 1234_2)": what a sample of the shard records as its
// worker.
std::string WorkerLabel(const v1::ShardState& shard);

class ShardService {
 public:
  ShardService(store::Store* store, const base::Clock* clock);
  ShardService(const ShardService&) = delete;
  ShardService& operator=(const ShardService&) = delete;

  // A worker takes shard request.shard of a running sharded run. Its
  // models and datasets must hash as the run's (else FailedPrecondition
  // naming the shard, the node and the difference, unless the run allows
  // drift: then the difference is recorded as drift). Pins are checked
  // against the worker's facts the same way; driver, CUDA, GPUs and evald
  // version that differ from the first worker's mark the run drifted.
  absl::StatusOr<v1::ClaimShardResponse> Claim(
      const v1::ClaimShardRequest& request);
  // Stores each sample unless its document is already stored (counted in
  // `duplicates`). Every sample must belong to the run, name one of its
  // tasks and a document of the shard. `stop` when the run has ended: then
  // nothing is stored.
  absl::StatusOr<v1::PutShardSamplesResponse> Put(
      v1::PutShardSamplesRequest request);
  // Records the worker's error and log tail on the shard, and adds its
  // engine figures to the run's.
  absl::Status Finish(const v1::FinishShardRequest& request);

  // Reads the run, lets `update` change it and writes it back (unless
  // `update` fails), under the lock described above.
  absl::Status Update(
      const std::string& run_id,
      const std::function<absl::Status(v1::RunRecord&)>& update);
  // The same with mutex() already held, for callers whose step spans more
  // than one write (submit: store the run, sbatch, record the job).
  absl::Status UpdateLocked(
      const std::string& run_id,
      const std::function<absl::Status(v1::RunRecord&)>& update)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Mutex& mutex() ABSL_LOCK_RETURNED(mu_) { return mu_; }

 private:
  store::Store* store_;
  const base::Clock* clock_;
  absl::Mutex mu_;
};

}  // namespace evald::daemon::cluster

#endif  // EVALD_DAEMON_CLUSTER_SHARD_SERVICE_H_
