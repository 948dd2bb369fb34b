// File: tests/daemon/stored_runs.h
// -----------------------------------------------------------------------------
// Finished runs written straight into an evald store (no daemon, no model),
// for the tests of what evalctl and the service read back: a run of one task
// with N samples, every other one failed (its metric 0), and the task's
// scores.
#ifndef EVALD_TESTS_DAEMON_STORED_RUNS_H_
#define EVALD_TESTS_DAEMON_STORED_RUNS_H_

#include <cstddef>
#include <string>

namespace evald::testing {

struct StoredRun {
  std::string task = "gsm8k";
  int samples = 3;
  // Bytes of each sample's prompt (a sample's size, for message limits).
  size_t prompt_bytes = 40;
  std::string label_key = "checkpoint";
  std::string label_value = "1200";
};

// Writes `run` into the store of data dir `data_dir` (created if missing; no
// process may hold it) and returns the run id. Fails the current test on
// error.
std::string WriteFinishedRun(const std::string& data_dir, const StoredRun& run);

}  // namespace evald::testing

#endif  // EVALD_TESTS_DAEMON_STORED_RUNS_H_
