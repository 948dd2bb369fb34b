// File: tests/daemon/process.h
// -----------------------------------------------------------------------------
// Real processes for the daemon tests: run a program to completion with its
// output captured, or keep an evald running on a temp data dir.
#ifndef EVALD_TESTS_DAEMON_PROCESS_H_
#define EVALD_TESTS_DAEMON_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace evald::testing {

struct ProcessResult {
  int exit_code = -1;  // -1: killed by a signal or timed out
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] a path) with `env` added ("K=V"), waiting at most
// `timeout_s` seconds (then SIGKILL).
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env = {},
                         int timeout_s = 120);

// An evald process; killed (SIGKILL) and reaped by the destructor if alive.
class DaemonProcess {
 public:
  DaemonProcess() = default;
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Starts `evald --data-dir DIR [extra...]`, stderr to DIR/../evald-N.log,
  // and waits until `ready_path` exists (the socket) or `ready_text` shows in
  // its log. Returns false on timeout or early exit.
  bool Start(const std::string& data_dir,
             const std::vector<std::string>& extra = {},
             const std::string& ready_text = "listening on");
  // Sends `sig`; with wait, reaps and returns the exit code (-1 if signalled).
  int Signal(int sig, bool wait);
  pid_t pid() const { return pid_; }
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

}  // namespace evald::testing

#endif  // EVALD_TESTS_DAEMON_PROCESS_H_
