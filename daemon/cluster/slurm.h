// File: daemon/cluster/slurm.h
// -----------------------------------------------------------------------------
// The Slurm commands a coordinator uses, run as the user would run them
// (sbatch, scontrol, scancel from PATH, with the environment the daemon was
// started in, SLURM_CONF included): submit one job array whose elements run
// `evald worker` on one shard each, read its elements' states, cancel them.
// evald never schedules anything itself.
//
// Thread-safety: Slurm is immutable after construction; its methods are
// thread-safe.
#ifndef EVALD_DAEMON_CLUSTER_SLURM_H_
#define EVALD_DAEMON_CLUSTER_SLURM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/store.pb.h"

namespace evald::daemon::cluster {

// What a worker job runs: `EVALD worker --run RUN --shard $SLURM_ARRAY_TASK_ID
// ...`. Paths must be valid on the compute nodes.
struct WorkerJob {
  std::string run_id;
  std::string job_name;     // sbatch --job-name (e.g. "evald-RUN_ID")
  std::string evald;        // the evald binary
  std::string coordinator;  // HOST:PORT workers dial (transport grpc)
  std::string token_file;   // the bearer token's file (never the token)
  std::string shared_dir;   // transport files: where shards are written
  std::string log_dir;      // LOG_DIR/slurm-%A_%a.out; the script is kept here
};

// One array element as Slurm reports it (scontrol show job).
struct SlurmTask {
  int32_t index = -1;  // the array index: the shard
  std::string job_id;  // "<array job>_<index>"
  // Slurm's JobState: PENDING, RUNNING, COMPLETING, COMPLETED, FAILED,
  // CANCELLED, TIMEOUT, NODE_FAIL, PREEMPTED, OUT_OF_MEMORY, BOOT_FAIL,
  // DEADLINE, REQUEUED, SUSPENDED, ...
  std::string state;
  std::string reason;     // Slurm's Reason=
  std::string node;       // BatchHost; "" while pending
  std::string exit_code;  // "0:0" (code:signal)
  int32_t restarts = 0;
  std::string std_out;  // the output file
};

// True for the states a job never leaves on its own (COMPLETED, FAILED,
// CANCELLED, TIMEOUT, NODE_FAIL, PREEMPTED, OUT_OF_MEMORY, BOOT_FAIL,
// DEADLINE).
bool IsFinalState(const std::string& state);

// Where the commands are and how they run.
struct SlurmCommands {
  std::string sbatch = "sbatch";  // a name looked up on PATH, or a path
  std::string scontrol = "scontrol";
  std::string scancel = "scancel";
  std::vector<std::string> env;  // added to the inherited environment
  int timeout_s = 60;            // per command
};

// "0-3", "1,3,5-7" for `indices` (sorted, distinct).
std::string ArrayExpression(const std::vector<int32_t>& indices);

// The batch script for `spec` and `job`: #SBATCH lines for the job name,
// output file (LOG_DIR/slurm-%A_%a.out, appended to by a requeued element),
// --requeue, partition, gres, time,
// account and qos where set, then the worker command. The array and
// extra_args go on sbatch's command line. This is what `evalctl plan
// --slurm` prints.
std::string RenderBatchScript(const v1::SlurmSpec& spec, const WorkerJob& job);

// The elements in `scontrol show job -o` output (one record per line). A
// pending array's elements that Slurm has not split off yet come as one
// record whose ArrayTaskId is a set ("0-3", "1,3", "0-15:4", "0-3%2"); it is
// expanded into one SlurmTask per index. Sorted by index.
absl::StatusOr<std::vector<SlurmTask>> ParseJobRecords(
    const std::string& scontrol_output);

class Slurm {
 public:
  explicit Slurm(SlurmCommands commands = {});

  // Writes the script to LOG_DIR/RUN_ID.sbatch (creating LOG_DIR) and runs
  // `sbatch --parsable --array=EXPR [extra_args...] SCRIPT`; returns the
  // array job id. Errors are one line: "sbatch not found on PATH (...)", or
  // sbatch's own message ("sbatch: error: invalid partition specified: x").
  absl::StatusOr<std::string> SubmitArray(const v1::SlurmSpec& spec,
                                          const WorkerJob& job,
                                          const std::vector<int32_t>& indices);
  // Every element of `array_job_id` that Slurm still knows, by index. A job
  // Slurm has forgotten (finished longer than MinJobAge ago) gives an empty
  // list, not an error.
  absl::StatusOr<std::vector<SlurmTask>> Query(
      const std::string& array_job_id) const;
  // scancel JOB (an array job id, or one element "<array>_<index>"). A job
  // Slurm has forgotten or that already ended is not an error.
  absl::Status Cancel(const std::string& job_id) const;

 private:
  SlurmCommands commands_;
};

}  // namespace evald::daemon::cluster

#endif  // EVALD_DAEMON_CLUSTER_SLURM_H_
