// File: tests/testing/slurm_cluster.h
// -----------------------------------------------------------------------------
// A real single-node Slurm cluster for tests: munged, slurmctld and slurmd
// (Debian's slurm-wlm and munge) started as this process's children in a
// fresh temp dir, with their own munge key and socket, a generated
// slurm.conf, free non-default ports and a unique ClusterName, so two test
// binaries can each run one at the same time. Client commands reach it
// through env() (SLURM_CONF=...). The destructor cancels its jobs and stops
// the daemons by PID (SIGTERM, then SIGKILL); the daemons also get SIGTERM if
// the test process dies first.
//
// Needs root and the packages (scripts/install-deps.sh); Start() says so
// when either is missing, and tests fail on it rather than skip.
//
// Thread-safety: the accessors are thread-safe; Requeue and LogTail run
// Slurm commands and read files, and may be called from any thread.
#ifndef EVALD_TESTS_TESTING_SLURM_CLUSTER_H_
#define EVALD_TESTS_TESTING_SLURM_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {

class SlurmCluster {
 public:
  // Starts the daemons and waits until the node is idle. Errors carry the
  // daemons' log tails.
  static absl::StatusOr<std::unique_ptr<SlurmCluster>> Start();
  ~SlurmCluster();
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  // {"SLURM_CONF=..."}: for SlurmCommands::env and RunSubprocess.
  std::vector<std::string> env() const { return {"SLURM_CONF=" + conf_}; }
  const std::string& conf_path() const { return conf_; }
  const std::string& partition() const { return partition_; }
  const std::string& node() const { return node_; }
  const std::string& cluster_name() const { return cluster_name_; }
  // The cluster's temp dir; tests may put job files under it.
  const std::string& dir() const { return dir_.path(); }
  // Seconds Start() took, and of them until munged's socket was up.
  double start_seconds() const { return start_seconds_; }
  double munge_seconds() const { return munge_seconds_; }

  // `scontrol requeue JOB`, then, once Slurm has put the job back to
  // PENDING, lifts the begin time Slurm gives requeued jobs (now + 120 s)
  // so it runs again at once.
  absl::Status Requeue(const std::string& job_id) const;
  // The last `lines` lines of each daemon's log and of squeue, for failure
  // messages.
  std::string LogTail(int lines = 25) const;

 private:
  SlurmCluster();
  absl::Status StartOnce();
  void Stop();
  absl::Status CheckAlive() const;

  TempDir dir_;
  std::string conf_;
  std::string partition_ = "debug";
  std::string node_;
  std::string cluster_name_;
  pid_t munged_ = -1;
  pid_t slurmctld_ = -1;
  pid_t slurmd_ = -1;
  double start_seconds_ = 0;
  double munge_seconds_ = 0;
};

}  // namespace evald::testing

#endif  // EVALD_TESTS_TESTING_SLURM_CLUSTER_H_
