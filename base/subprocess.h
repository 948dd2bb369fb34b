// File: base/subprocess.h
// -----------------------------------------------------------------------------
// Runs a program to completion without a shell: argv as given (argv[0] looked
// up on PATH unless it contains a '/'), extra environment entries, optional
// stdin text, a timeout after which the program's process group is killed
// (SIGKILL), and its stdout, stderr and exit status captured. Used for the
// external commands evald drives (Slurm's sbatch, scontrol, scancel).
//
// Thread-safety: RunSubprocess may be called from any thread at once; it
// spawns with posix_spawn (no fork of a multi-threaded process) and touches
// no global state.
#ifndef EVALD_BASE_SUBPROCESS_H_
#define EVALD_BASE_SUBPROCESS_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace evald::base {

struct SubprocessOptions {
  // "K=V" entries added to the inherited environment; an entry replaces an
  // inherited variable of the same name. A PATH given here is also the PATH
  // argv[0] is looked up on.
  std::vector<std::string> env;
  // Written to the program's stdin, which is then closed; without it stdin
  // is /dev/null.
  std::optional<std::string> stdin_text;
  // Seconds before the program (its whole process group) is killed; <= 0:
  // no limit.
  int timeout_s = 60;
  // The program's working directory; "" keeps the caller's.
  std::string working_dir;
  // Output kept per stream; more is read and dropped (and *_truncated set).
  size_t max_output_bytes = size_t{64} << 20;
};

struct SubprocessResult {
  int exit_code = -1;  // the exit status; -1 when killed by a signal
  int signal = 0;      // the signal that ended it, 0 when it exited
  std::string out;
  std::string err;
  bool out_truncated = false;
  bool err_truncated = false;
};

// Runs `argv` and waits for it. A program that cannot be started is an
// error (NotFound "sbatch not found on PATH (/usr/bin:/bin)", or
// PermissionDenied naming the file); so is running past the timeout
// (DeadlineExceeded naming the program and the limit). A program that runs
// and exits non-zero is a result, not an error. Output written after the
// program exits by processes it left behind holding its pipes is read for
// at most 200 ms more.
absl::StatusOr<SubprocessResult> RunSubprocess(
    const std::vector<std::string>& argv,
    const SubprocessOptions& options = {});

// The file `program` names: itself when it contains a '/', else the first
// executable regular file PROGRAM in the colon-separated `path` (an empty
// entry is the current directory). NotFound names the program and `path`.
absl::StatusOr<std::string> FindProgram(const std::string& program,
                                        const std::string& path);

// `stderr` or `stdout` condensed to one line for an error message: lines
// trimmed, empty ones dropped, joined with "; ", at most `max_chars`.
std::string OneLine(const std::string& text, size_t max_chars = 400);

}  // namespace evald::base

#endif  // EVALD_BASE_SUBPROCESS_H_
