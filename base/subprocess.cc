// File: base/subprocess.cc
// -----------------------------------------------------------------------------
#include "base/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

extern char** environ;

namespace evald::base {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kDefaultPath[] = "/usr/local/bin:/usr/bin:/bin";

// A file descriptor closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Reset(int fd) {
    Close();
    fd_ = fd;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
};

absl::Status MakePipe(Pipe& p) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  p.read.Reset(fds[0]);
  p.write.Reset(fds[1]);
  return absl::OkStatus();
}

absl::string_view EnvKey(absl::string_view entry) {
  return entry.substr(0, entry.find('='));
}

// The inherited environment with `extra` laid over it.
std::vector<std::string> MergedEnvironment(
    const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    bool replaced = false;
    for (const std::string& x : extra) {
      if (EnvKey(x) == EnvKey(entry)) replaced = true;
    }
    if (!replaced) env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::string LookupPath(const std::vector<std::string>& extra) {
  for (auto it = extra.rbegin(); it != extra.rend(); ++it) {
    if (EnvKey(*it) == "PATH") return it->substr(5);
  }
  const char* path = std::getenv("PATH");
  return path != nullptr ? path : kDefaultPath;
}

// Appends what is readable on `fd` to `out` (up to `cap`); false at EOF.
bool Drain(int fd, std::string& out, size_t cap, bool& truncated) {
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      size_t keep =
          std::min(static_cast<size_t>(n), cap - std::min(cap, out.size()));
      out.append(buf, keep);
      if (keep < static_cast<size_t>(n)) truncated = true;
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

void SetNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// Blocks SIGPIPE in the calling thread while alive, so a program that exits
// without reading its stdin gives EPIPE instead of killing the caller; a
// SIGPIPE raised meanwhile is consumed before the mask is restored.
class ScopedBlockSigpipe {
 public:
  ScopedBlockSigpipe() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~ScopedBlockSigpipe() {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_;
  sigset_t old_;
};

// posix_spawn's attributes and file actions, destroyed with the object.
class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
};

int DecodeWait(int status, SubprocessResult& result) {
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = -1;
    result.signal = WTERMSIG(status);
  }
  return result.exit_code;
}

}  // namespace

absl::StatusOr<std::string> FindProgram(const std::string& program,
                                        const std::string& path) {
  if (program.empty()) {
    return absl::InvalidArgumentError("empty program name");
  }
  if (program.find('/') != std::string::npos) {
    struct stat st;
    if (::stat(program.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat(program, " not found"));
    }
    if (!S_ISREG(st.st_mode) || ::access(program.c_str(), X_OK) != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat(program, " is not an executable file"));
    }
    return program;
  }
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    std::string candidate =
        dir.empty() ? program : absl::StrCat(dir, "/", program);
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return absl::NotFoundError(
      absl::StrCat(program, " not found on PATH (", path, ")"));
}

std::string OneLine(const std::string& text, size_t max_chars) {
  std::vector<absl::string_view> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) lines.push_back(line);
  }
  std::string joined = absl::StrJoin(lines, "; ");
  if (joined.size() > max_chars) {
    joined.resize(max_chars);
    joined += "...";
  }
  return joined;
}

absl::StatusOr<SubprocessResult> RunSubprocess(
    const std::vector<std::string>& argv, const SubprocessOptions& options) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command line");
  absl::StatusOr<std::string> program =
      FindProgram(argv[0], LookupPath(options.env));
  if (!program.ok()) return program.status();

  Pipe out, err, in;
  if (absl::Status s = MakePipe(out); !s.ok()) return s;
  if (absl::Status s = MakePipe(err); !s.ok()) return s;
  if (options.stdin_text.has_value()) {
    if (absl::Status s = MakePipe(in); !s.ok()) return s;
  }

  SpawnSetup setup;
  // Its own process group, so a timeout kills what it started too; default
  // signal handling and an empty mask whatever the caller's threads use.
  short flags =
      POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  posix_spawnattr_setflags(&setup.attr, flags);
  posix_spawnattr_setpgroup(&setup.attr, 0);
  sigset_t empty_mask, defaults;
  sigemptyset(&empty_mask);
  posix_spawnattr_setsigmask(&setup.attr, &empty_mask);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1,
                  SIGUSR2, SIGALRM}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(&setup.attr, &defaults);

  if (options.stdin_text.has_value()) {
    posix_spawn_file_actions_adddup2(&setup.actions, in.read.get(), 0);
  } else {
    posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY,
                                     0);
  }
  posix_spawn_file_actions_adddup2(&setup.actions, out.write.get(), 1);
  posix_spawn_file_actions_adddup2(&setup.actions, err.write.get(), 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3);
#endif
  if (!options.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&setup.actions,
                                         options.working_dir.c_str());
  }

  std::vector<std::string> env = MergedEnvironment(options.env);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (std::string& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);

  ScopedBlockSigpipe block_sigpipe;
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, program->c_str(), &setup.actions, &setup.attr,
                         argp.data(), envp.data());
  if (rc != 0) {
    std::string what =
        absl::StrCat("cannot run ", *program, ": ", std::strerror(rc));
    if (!options.working_dir.empty()) {
      absl::StrAppend(&what, " (working directory ", options.working_dir, ")");
    }
    if (rc == ENOENT) return absl::NotFoundError(what);
    if (rc == EACCES) return absl::PermissionDeniedError(what);
    return absl::InternalError(what);
  }
  out.write.Close();
  err.write.Close();
  in.read.Close();
  SetNonBlocking(out.read.get());
  SetNonBlocking(err.read.get());
  if (in.write.get() >= 0) SetNonBlocking(in.write.get());

  SubprocessResult result;
  const std::string& input = options.stdin_text.value_or(std::string());
  size_t written = 0;
  if (in.write.get() >= 0 && input.empty()) in.write.Close();

  const auto start = Clock::now();
  const bool limited = options.timeout_s > 0;
  const auto deadline = start + std::chrono::seconds(options.timeout_s);
  std::optional<Clock::time_point> exited_at;
  bool reaped = false;
  int status = 0;
  while (out.read.get() >= 0 || err.read.get() >= 0 || !reaped) {
    const auto now = Clock::now();
    if (limited && now >= deadline && !reaped) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return absl::DeadlineExceededError(
          absl::StrCat(argv[0], " did not finish within ", options.timeout_s,
                       " s (killed)"));
    }
    if (!reaped) {
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        reaped = true;
        exited_at = now;
      }
    }
    // Pipes a leftover process keeps open are given up shortly after exit.
    if (reaped && exited_at.has_value() &&
        now - *exited_at > std::chrono::milliseconds(200)) {
      break;
    }
    struct pollfd fds[3];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (out.read.get() >= 0) {
      out_i = n;
      fds[n++] = {out.read.get(), POLLIN, 0};
    }
    if (err.read.get() >= 0) {
      err_i = n;
      fds[n++] = {err.read.get(), POLLIN, 0};
    }
    if (in.write.get() >= 0) {
      in_i = n;
      fds[n++] = {in.write.get(), POLLOUT, 0};
    }
    // Wake at least every 20 ms to notice the exit and the deadline.
    int wait_ms = 20;
    if (n == 0) {
      ::poll(nullptr, 0, reaped ? 0 : wait_ms);
      continue;
    }
    int ready = ::poll(fds, n, wait_ms);
    if (ready < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (ready <= 0) continue;
    if (out_i >= 0 && fds[out_i].revents != 0 &&
        !Drain(out.read.get(), result.out, options.max_output_bytes,
               result.out_truncated)) {
      out.read.Close();
    }
    if (err_i >= 0 && fds[err_i].revents != 0 &&
        !Drain(err.read.get(), result.err, options.max_output_bytes,
               result.err_truncated)) {
      err.read.Close();
    }
    if (in_i >= 0 && fds[in_i].revents != 0) {
      while (written < input.size()) {
        ssize_t w = ::write(in.write.get(), input.data() + written,
                            input.size() - written);
        if (w > 0) {
          written += static_cast<size_t>(w);
          continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        written = input.size();  // EPIPE: the program stopped reading
      }
      if (written >= input.size()) in.write.Close();
    }
  }
  DecodeWait(status, result);
  return result;
}

}  // namespace evald::base
