// File: tests/testing/slurm_cluster.cc
// -----------------------------------------------------------------------------
#include "tests/testing/slurm_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/subprocess.h"

namespace evald::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kInstallHint[] =
    "run the tests as root after scripts/install-deps.sh (it installs Debian's "
    "slurm-wlm and munge)";

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string Tail(const std::string& path, int lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "(no " + path + ")\n";
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) all.push_back(line);
  const size_t from = all.size() > static_cast<size_t>(lines)
                          ? all.size() - static_cast<size_t>(lines)
                          : 0;
  std::string out;
  for (size_t i = from; i < all.size(); ++i)
    absl::StrAppend(&out, all[i], "\n");
  return out;
}

// A TCP port nothing listens on now (bound to 0, then released).
absl::StatusOr<int> FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return absl::InternalError("cannot bind a free port");
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

// Starts `argv` (argv[0] a path) with stdout and stderr appended to `log`.
// The child gets SIGTERM if this process dies, so a crashed test leaves no
// daemon behind.
pid_t SpawnDaemon(const std::vector<std::string>& argv,
                  const std::string& log) {
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (std::string& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);
  const int log_fd =
      ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    if (log_fd >= 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
    }
    sigset_t empty;
    sigemptyset(&empty);
    ::sigprocmask(SIG_SETMASK, &empty, nullptr);
    ::execv(argp[0], argp.data());
    ::_exit(127);
  }
  if (log_fd >= 0) ::close(log_fd);
  return pid;
}

bool Alive(pid_t pid) {
  if (pid <= 0) return false;
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == 0;
}

// SIGTERM, up to `grace` to exit, then SIGKILL; reaps it.
void StopProcess(pid_t& pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  const auto deadline = Clock::now() + grace;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid = -1;
}

absl::StatusOr<std::string> Find(const std::string& program) {
  const char* path = std::getenv("PATH");
  absl::StatusOr<std::string> found = base::FindProgram(
      program, absl::StrCat(path ? path : "/usr/bin:/bin", ":/usr/sbin:/sbin"));
  if (!found.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Slurm test cluster: ", found.status().message(), ": ", kInstallHint));
  }
  return found;
}

std::string ShortHostName() {
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  std::string host = name;
  return host.substr(0, host.find('.'));
}

std::atomic<int> cluster_counter{0};

}  // namespace

SlurmCluster::SlurmCluster() = default;

SlurmCluster::~SlurmCluster() { Stop(); }

absl::StatusOr<std::unique_ptr<SlurmCluster>> SlurmCluster::Start() {
  if (::geteuid() != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the Slurm test cluster needs root (munged, slurmctld and slurmd run "
        "as root here): ",
        kInstallHint));
  }
  for (const char* program : {"munged", "slurmctld", "slurmd", "sbatch",
                              "scontrol", "scancel", "squeue"}) {
    absl::StatusOr<std::string> found = Find(program);
    if (!found.ok()) return found.status();
  }
  // A port taken between choosing and binding makes a daemon exit: try
  // again with fresh ports.
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<SlurmCluster> cluster(new SlurmCluster());
    last = cluster->StartOnce();
    if (last.ok()) return cluster;
    if (last.code() != absl::StatusCode::kUnavailable) break;
  }
  return last;
}

absl::Status SlurmCluster::StartOnce() {
  const auto start = Clock::now();
  const std::string d = dir_.path();
  node_ = ShortHostName();
  cluster_name_ =
      absl::StrCat("evt", ::getpid(), "x", cluster_counter.fetch_add(1));
  for (const char* sub : {"state", "spool"}) {
    if (::mkdir(absl::StrCat(d, "/", sub).c_str(), 0700) != 0) {
      return absl::InternalError(absl::StrCat("cannot create ", d, "/", sub));
    }
  }

  // munge: its own key, socket, pid and log.
  {
    std::ifstream random("/dev/urandom", std::ios::binary);
    std::string key(1024, '\0');
    random.read(key.data(), static_cast<std::streamsize>(key.size()));
    const std::string key_path = d + "/munge.key";
    std::ofstream out(key_path, std::ios::binary);
    out << key;
    out.close();
    ::chmod(key_path.c_str(), 0400);
  }
  const std::string socket = d + "/munge.sock";
  absl::StatusOr<std::string> munged = Find("munged");
  if (!munged.ok()) return munged.status();
  munged_ = SpawnDaemon(
      {*munged, "-F", "--force", "--key-file=" + d + "/munge.key",
       "--socket=" + socket, "--pid-file=" + d + "/munged.pid",
       "--log-file=" + d + "/munged.log", "--seed-file=" + d + "/munge.seed"},
      d + "/munged.out");
  while (!base::PathExists(socket)) {
    if (!Alive(munged_)) {
      munged_ = -1;
      return absl::InternalError(
          absl::StrCat("munged exited at start:\n", LogTail()));
    }
    if (SecondsSince(start) > 20) {
      return absl::DeadlineExceededError(
          absl::StrCat("munged made no socket in 20 s:\n", LogTail()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  munge_seconds_ = SecondsSince(start);

  absl::StatusOr<int> ctld_port = FreePort();
  absl::StatusOr<int> slurmd_port = FreePort();
  if (!ctld_port.ok()) return ctld_port.status();
  if (!slurmd_port.ok()) return slurmd_port.status();
  if (*ctld_port == *slurmd_port) {
    return absl::UnavailableError("the same free port twice");
  }
  const long cpus = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
  conf_ = d + "/slurm.conf";
  std::vector<std::string> conf = {
      "ClusterName=" + cluster_name_,
      // Loopback addresses: no need for the host name to resolve.
      "SlurmctldHost=" + node_ + "(127.0.0.1)",
      absl::StrCat("SlurmctldPort=", *ctld_port),
      absl::StrCat("SlurmdPort=", *slurmd_port),
      "AuthType=auth/munge",
      "AuthInfo=socket=" + socket,
      "CredType=cred/munge",
      "SlurmUser=root",
      "SlurmdUser=root",
      "StateSaveLocation=" + d + "/state",
      "SlurmdSpoolDir=" + d + "/spool",
      "SlurmctldPidFile=" + d + "/slurmctld.pid",
      "SlurmdPidFile=" + d + "/slurmd.pid",
      "SlurmctldLogFile=" + d + "/slurmctld.log",
      "SlurmdLogFile=" + d + "/slurmd.log",
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core",
      "AccountingStorageType=accounting_storage/none",
      "JobCompType=jobcomp/none",
      "JobAcctGatherType=jobacct_gather/none",
      "MpiDefault=none",
      "MailProg=/bin/true",
      "ReturnToService=2",
      "SchedulerType=sched/backfill",
      "MinJobAge=300",
      "JobRequeue=1",
      "KillWait=5",
      absl::StrCat("NodeName=", node_, " NodeAddr=127.0.0.1 CPUs=", cpus,
                   " State=UNKNOWN"),
      absl::StrCat("PartitionName=", partition_, " Nodes=", node_,
                   " Default=YES MaxTime=INFINITE State=UP "
                   "OverSubscribe=FORCE:4"),
  };
  if (absl::Status s =
          base::WriteFileAtomically(conf_, absl::StrJoin(conf, "\n") + "\n");
      !s.ok()) {
    return s;
  }

  absl::StatusOr<std::string> slurmctld = Find("slurmctld");
  absl::StatusOr<std::string> slurmd = Find("slurmd");
  if (!slurmctld.ok()) return slurmctld.status();
  if (!slurmd.ok()) return slurmd.status();
  slurmctld_ =
      SpawnDaemon({*slurmctld, "-D", "-i", "-f", conf_}, d + "/slurmctld.out");
  slurmd_ =
      SpawnDaemon({*slurmd, "-D", "-f", conf_, "-N", node_}, d + "/slurmd.out");

  // Up when the controller reports the node idle (scontrol itself waits
  // while the controller starts).
  base::SubprocessOptions options;
  options.env = env();
  options.timeout_s = 20;
  while (true) {
    if (absl::Status alive = CheckAlive(); !alive.ok()) return alive;
    absl::StatusOr<base::SubprocessResult> r =
        base::RunSubprocess({"scontrol", "show", "node", node_, "-o"}, options);
    if (r.ok() && r->exit_code == 0 &&
        (absl::StrContains(r->out, " State=IDLE ") ||
         absl::StrContains(r->out, " State=IDLE+"))) {
      break;
    }
    if (SecondsSince(start) > 60) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the Slurm test cluster's node was not idle within 60 s:\n",
          LogTail()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  start_seconds_ = SecondsSince(start);
  std::fprintf(stderr,
               "SlurmCluster: cluster %s up in %.2f s (munged %.3f s; node "
               "%s, slurmctld port %d, slurmd port %d, %s)\n",
               cluster_name_.c_str(), start_seconds_, munge_seconds_,
               node_.c_str(), *ctld_port, *slurmd_port, d.c_str());
  return absl::OkStatus();
}

absl::Status SlurmCluster::CheckAlive() const {
  const std::pair<const char*, pid_t> daemons[] = {
      {"munged", munged_}, {"slurmctld", slurmctld_}, {"slurmd", slurmd_}};
  for (const auto& [name, pid] : daemons) {
    if (pid > 0 && !Alive(pid)) {
      // Most often a port taken meanwhile: Start() retries on Unavailable.
      return absl::UnavailableError(
          absl::StrCat(name, " exited during start-up:\n", LogTail()));
    }
  }
  return absl::OkStatus();
}

void SlurmCluster::Stop() {
  const auto start = Clock::now();
  const bool started = start_seconds_ > 0;
  if (Alive(slurmctld_)) {
    // Jobs first, so no job step outlives its slurmd.
    base::SubprocessOptions options;
    options.env = env();
    options.timeout_s = 10;
    (void)base::RunSubprocess({"scancel", "--user=root"}, options);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      absl::StatusOr<base::SubprocessResult> q =
          base::RunSubprocess({"squeue", "-h", "-o", "%i"}, options);
      if (!q.ok() || q->exit_code != 0 || q->out.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  StopProcess(slurmd_, std::chrono::seconds(10));
  StopProcess(slurmctld_, std::chrono::seconds(10));
  StopProcess(munged_, std::chrono::seconds(5));
  if (started) {
    std::fprintf(stderr, "SlurmCluster: cluster %s stopped in %.2f s\n",
                 cluster_name_.c_str(), SecondsSince(start));
  }
}

absl::Status SlurmCluster::Requeue(const std::string& job_id) const {
  base::SubprocessOptions options;
  options.env = env();
  options.timeout_s = 20;
  absl::StatusOr<base::SubprocessResult> r =
      base::RunSubprocess({"scontrol", "requeue", job_id}, options);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "scontrol requeue ", job_id, ": ", base::OneLine(r->err + r->out)));
  }
  // Slurm holds a requeued job back (BeginTime, now + 120 s); once it is
  // PENDING again, let it start now.
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (true) {
    absl::StatusOr<base::SubprocessResult> show =
        base::RunSubprocess({"scontrol", "show", "job", "-o", job_id}, options);
    if (show.ok() && show->exit_code == 0 &&
        absl::StrContains(show->out, "JobState=PENDING")) {
      break;
    }
    if (Clock::now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "requeued job ", job_id, " did not return to PENDING in 30 s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  absl::StatusOr<base::SubprocessResult> update = base::RunSubprocess(
      {"scontrol", "update", "JobId=" + job_id, "StartTime=now"}, options);
  if (!update.ok()) return update.status();
  if (update->exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "scontrol update JobId=", job_id,
        " StartTime=now: ", base::OneLine(update->err + update->out)));
  }
  return absl::OkStatus();
}

std::string SlurmCluster::LogTail(int lines) const {
  const std::string d = dir_.path();
  std::string out;
  for (const char* log : {"slurmctld.log", "slurmd.log", "munged.log",
                          "slurmctld.out", "slurmd.out", "munged.out"}) {
    absl::StrAppend(&out, "---- ", log, "\n", Tail(d + "/" + log, lines));
  }
  if (Alive(slurmctld_)) {
    base::SubprocessOptions options;
    options.env = env();
    options.timeout_s = 10;
    absl::StatusOr<base::SubprocessResult> q =
        base::RunSubprocess({"squeue", "-a", "-t", "all"}, options);
    absl::StrAppend(&out, "---- squeue\n",
                    q.ok() ? q->out + q->err : q.status().ToString() + "\n");
  }
  return out;
}

}  // namespace evald::testing
