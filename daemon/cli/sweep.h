// File: daemon/cli/sweep.h
// -----------------------------------------------------------------------------
// Checkpoint sweeps (`evalctl submit suite.yaml --sweep
// candidate.model=/ckpts/step-*`): the checkpoint folders a --sweep value
// names, in natural order (step-900 before step-1200), and the labels each
// run of the sweep gets. Everything is checked before any run is submitted.
//
// Thread-safety: pure functions over the file system.
#ifndef EVALD_DAEMON_CLI_SWEEP_H_
#define EVALD_DAEMON_CLI_SWEEP_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace evald::daemon::cli {

struct SweepPoint {
  std::string path;        // the checkpoint folder, absolute
  std::string checkpoint;  // its base name: the run's `checkpoint` label
};

struct Sweep {
  std::string field;  // "candidate.model" or "judge.model"
  std::vector<SweepPoint> points;
};

// Parses FIELD=GLOB or FIELD=@FILE (one path per line; blank lines and lines
// starting with '#' skipped; relative paths are taken from the current
// folder). FIELD must be a model path (candidate.model, judge.model). Each
// path must be a checkpoint folder (config.json inside). InvalidArgument,
// one line naming --sweep and the path, for an unknown field, a glob that
// matches nothing, a missing or non-checkpoint path, or a path given twice.
absl::StatusOr<Sweep> ExpandSweep(absl::string_view value);

// The default sweep name: the suite's name and the UTC second,
// "nightly-20261122T084512Z".
std::string DefaultSweepName(absl::string_view suite_name, absl::Time now);

}  // namespace evald::daemon::cli

#endif  // EVALD_DAEMON_CLI_SWEEP_H_
