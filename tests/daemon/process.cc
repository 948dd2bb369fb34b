#include "tests/daemon/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/testing/temp_dir.h"

extern char** environ;

namespace evald::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t Spawn(const std::vector<std::string>& argv,
            const std::vector<std::string>& env, const std::string& out_path,
            const std::string& err_path) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int null = open("/dev/null", O_RDONLY);
  dup2(null, 0);
  dup2(out, 1);
  dup2(err, 2);
  for (const std::string& kv : env) putenv(const_cast<char*>(kv.c_str()));
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

int WaitExit(pid_t pid, int timeout_s) {
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::atomic<int> counter{0};

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env, int timeout_s) {
  static TempDir* scratch = new TempDir();  // lives for the test binary
  const int n = counter.fetch_add(1);
  const std::string out_path = scratch->Join(absl::StrCat("out-", n));
  const std::string err_path = scratch->Join(absl::StrCat("err-", n));
  pid_t pid = Spawn(argv, env, out_path, err_path);
  ProcessResult result;
  result.exit_code = WaitExit(pid, timeout_s);
  result.out = Slurp(out_path);
  result.err = Slurp(err_path);
  return result;
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) Signal(SIGKILL, true);
}

bool DaemonProcess::Start(const std::string& data_dir,
                          const std::vector<std::string>& extra,
                          const std::string& ready_text) {
  std::vector<std::string> argv = {BinDir() + "/evald", "--data-dir", data_dir};
  argv.insert(argv.end(), extra.begin(), extra.end());
  log_path_ = absl::StrCat(data_dir, ".evald-", counter.fetch_add(1), ".log");
  pid_ = Spawn(argv, {}, "/dev/null", log_path_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (log().find(ready_text) != std::string::npos) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int DaemonProcess::Signal(int sig, bool wait) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  if (!wait) return 0;
  int code = WaitExit(pid_, 120);
  pid_ = -1;
  return code;
}

std::string DaemonProcess::log() const {
  return log_path_.empty() ? "" : Slurp(log_path_);
}

}  // namespace evald::testing
