// File: bench/cluster_bench.cc
// -----------------------------------------------------------------------------
// evald-cluster-bench: one GSM8K-shaped workload on a small random-weight
// model, run (a) locally on a real evald daemon and (b) sharded over Slurm
// tasks of a real single-node cluster (tests/testing/slurm_cluster.h), with
// a real coordinator daemon and real `evald worker`s. Needs root and Slurm
// (scripts/install-deps.sh), as the cluster tests do.
//
//   evald-cluster-bench [--short] [--docs N] [--shards N] [--hidden N]
//                       [--layers N] [--poll SECONDS] [--local-threads N]
//                       [--keep]
//
// Prints the wall time of each run and their ratio; the coordinator's CPU
// time (/proc/PID/stat, before submit and after the run ended) per stored
// sample; the total CPU time of the sharded run (coordinator plus workers,
// each worker measured by /usr/bin/time through the wrapper script the
// suite names as cluster.slurm.evald) against the local daemon's; and
// whether both runs stored the same samples and scores (exit 1 if not).
// --short (CI) runs 12 documents on a smaller model; timings are printed,
// never asserted.
//
// Each worker runs with --threads 1 and the local daemon with --threads
// <shards> (or --local-threads), so both runs may use the same number of
// cores.
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/json.h"
#include "proto/service.grpc.pb.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "tests/daemon/process.h"
#include "tests/testing/fixtures.h"
#include "tests/testing/slurm_cluster.h"
#include "tests/testing/temp_dir.h"

namespace {

namespace fs = std::filesystem;
namespace v1 = ::evald::v1;
using ::evald::testing::DaemonProcess;
using ::evald::testing::ProcessResult;
using ::evald::testing::RunProcess;

constexpr char kToken[] = "cluster-bench-token-0123456789abcdef";

struct Flags {
  bool short_mode = false;
  bool keep = false;
  int docs = 64;
  int shards = 2;
  int hidden = 384;
  int layers = 6;
  double poll_s = 0.5;    // the coordinator's --cluster-poll
  int local_threads = 0;  // the local daemon's --threads; 0: --shards
};

// Thrown by Die and caught in main, so that the daemons, the Slurm
// cluster and the temp dir are stopped and removed on the way out.
struct Fatal {
  std::string message;
};

[[noreturn]] void Die(const std::string& message) { throw Fatal{message}; }

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  bool docs_set = false, hidden_set = false, layers_set = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto number = [&](int* out, bool* set) {
      if (i + 1 >= argc || !absl::SimpleAtoi(argv[i + 1], out) || *out < 1) {
        Die(a + ": expected a positive integer");
      }
      if (set != nullptr) *set = true;
      ++i;
    };
    if (a == "--short") {
      f.short_mode = true;
    } else if (a == "--poll") {
      if (i + 1 >= argc || !absl::SimpleAtod(argv[i + 1], &f.poll_s) ||
          !(f.poll_s > 0)) {
        Die("--poll: expected a positive number of seconds");
      }
      ++i;
    } else if (a == "--keep") {
      f.keep = true;
    } else if (a == "--docs") {
      number(&f.docs, &docs_set);
    } else if (a == "--shards") {
      number(&f.shards, nullptr);
    } else if (a == "--local-threads") {
      number(&f.local_threads, nullptr);
    } else if (a == "--hidden") {
      number(&f.hidden, &hidden_set);
    } else if (a == "--layers") {
      number(&f.layers, &layers_set);
    } else {
      Die("unknown flag '" + a +
          "' (usage: evald-cluster-bench [--short] [--docs N] [--shards N] "
          "[--hidden N] [--layers N] [--poll SECONDS] [--local-threads N] "
          "[--keep])");
    }
  }
  if (f.short_mode) {
    if (!docs_set) f.docs = 12;
    if (!hidden_set) f.hidden = 128;
    if (!layers_set) f.layers = 2;
  }
  return f;
}

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// CPU seconds of a live process from /proc/PID/stat: its own (utime +
// stime) and that of its waited-for children (cutime + cstime: here the
// Slurm commands the coordinator runs).
struct Cpu {
  double self = 0;
  double children = 0;
  double self_sys = 0;  // of `self`, in the kernel (stime)
};

Cpu ProcessCpu(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) Die(absl::StrCat("cannot read /proc/", pid));
  // Fields after "(comm)": state is field 3; utime, stime, cutime, cstime
  // are fields 14-17.
  std::vector<std::string> f =
      absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
  if (f.size() < 15) Die(absl::StrCat("short /proc/", pid, "/stat"));
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  const auto field = [&](int n) {
    double v = 0;
    (void)absl::SimpleAtod(f[static_cast<size_t>(n - 3)], &v);
    return v / tick;
  };
  return Cpu{field(14) + field(15), field(16) + field(17), field(15)};
}

// What a sample holds whoever computed it: not when, how long, what the
// prefix cache served, by which attempt or worker, nor the run id.
v1::SampleRecord Comparable(v1::SampleRecord s) {
  s.clear_run_id();
  s.clear_finished_unix_ms();
  s.clear_wall_s();
  s.clear_cached_tokens();
  s.clear_attempt();
  s.clear_worker();
  return s;
}

class Daemon {
 public:
  Daemon(const std::string& data_dir, std::vector<std::string> extra)
      : data_dir_(data_dir), addr_("unix:" + data_dir + "/evald.sock") {
    if (!process_.Start(data_dir, extra)) {
      Die("evald did not start: " + process_.log());
    }
    stub_ = v1::EvalService::NewStub(
        grpc::CreateChannel(addr_, grpc::InsecureChannelCredentials()));
  }
  ~Daemon() { process_.Signal(SIGTERM, /*wait=*/true); }

  pid_t pid() const { return process_.pid(); }
  std::string log() const { return process_.log(); }

  std::string Submit(const std::string& suite, const std::string& token) {
    ProcessResult r =
        RunProcess({evald::testing::BinDir() + "/evalctl", "--addr", addr_,
                    "--token-file", token, "--json", "submit", suite});
    if (r.exit_code != 0) Die("submit " + suite + ": " + r.err + r.out);
    auto json = evald::base::ParseJson(r.out);
    const evald::base::Json* id = json.ok() ? json->Find("run_id") : nullptr;
    if (id == nullptr || !id->is_string()) Die("submit printed " + r.out);
    return id->string_value();
  }

  v1::RunRecord GetRun(const std::string& run) {
    grpc::ClientContext context;
    Prepare(&context);
    v1::GetRunRequest request;
    request.set_run_id(run);
    v1::RunRecord record;
    grpc::Status s = stub_->GetRun(&context, request, &record);
    if (!s.ok()) Die("GetRun " + run + ": " + s.error_message());
    ++get_runs_;
    return record;
  }
  int64_t get_runs() const { return get_runs_; }

  // The daemon's CPU seconds per GetRun of `run`, over `calls` calls: what
  // this program's own polling costs the daemon, taken off its figures.
  double GetRunCost(const std::string& run, int calls) {
    const Cpu before = ProcessCpu(pid());
    for (int i = 0; i < calls; ++i) GetRun(run);
    return (ProcessCpu(pid()).self - before.self) / calls;
  }

  // Polls every 100 ms until the run ends; its final record.
  v1::RunRecord Wait(const std::string& run, double timeout_s) {
    const double start = Now();
    for (;;) {
      v1::RunRecord r = GetRun(run);
      if (r.state() == v1::SUCCEEDED || r.state() == v1::FAILED ||
          r.state() == v1::CANCELLED) {
        return r;
      }
      if (Now() - start > timeout_s) {
        Die(absl::StrCat("run ", run, " still ", v1::RunState_Name(r.state()),
                         " after ", timeout_s, " s\n", log()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  std::vector<v1::SampleRecord> Samples(const std::string& run,
                                        const std::string& task) {
    grpc::ClientContext context;
    Prepare(&context);
    v1::ListSamplesRequest request;
    request.set_run_id(run);
    request.set_task(task);
    v1::ListSamplesResponse response;
    grpc::Status s = stub_->ListSamples(&context, request, &response);
    if (!s.ok()) Die("ListSamples " + run + ": " + s.error_message());
    return {response.samples().begin(), response.samples().end()};
  }

  // Every task's scores without the run id, in task order.
  std::vector<v1::TaskScores> Scores(const std::string& run) {
    grpc::ClientContext context;
    Prepare(&context);
    v1::GetResultsRequest request;
    request.set_run_id(run);
    v1::GetResultsResponse response;
    grpc::Status s = stub_->GetResults(&context, request, &response);
    if (!s.ok()) Die("GetResults " + run + ": " + s.error_message());
    std::vector<v1::TaskScores> out;
    for (v1::TaskScores scores : response.scores()) {
      scores.clear_run_id();
      out.push_back(std::move(scores));
    }
    return out;
  }

 private:
  static void Prepare(grpc::ClientContext* context) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
  }

  std::string data_dir_;
  std::string addr_;
  DaemonProcess process_;
  std::unique_ptr<v1::EvalService::Stub> stub_;
  int64_t get_runs_ = 0;
};

struct RunFigures {
  std::string id;
  double wall_s = 0;
  Cpu daemon;  // the daemon's CPU time over the run
  Cpu submit;  // of it, until the submit call returned
  // This program's GetRun polls while it ran, and their estimated cost,
  // already taken off `daemon.self`.
  int64_t polls = 0;
  double polls_cpu = 0;
  int64_t samples = 0;
  std::vector<v1::SampleRecord> stored;
  std::vector<v1::TaskScores> scores;
};

// Submits `suite` to `daemon` and measures it until it ends.
RunFigures Measure(Daemon& daemon, const std::string& suite,
                   const std::string& token) {
  RunFigures f;
  const Cpu before = ProcessCpu(daemon.pid());
  const double start = Now();
  const int64_t calls_before = daemon.get_runs();
  f.id = daemon.Submit(suite, token);
  const Cpu submitted = ProcessCpu(daemon.pid());
  f.submit =
      Cpu{submitted.self - before.self, submitted.children - before.children,
          submitted.self_sys - before.self_sys};
  v1::RunRecord done = daemon.Wait(f.id, 1800);
  f.wall_s = Now() - start;
  const Cpu after = ProcessCpu(daemon.pid());
  f.daemon = Cpu{after.self - before.self, after.children - before.children,
                 after.self_sys - before.self_sys};
  f.polls = daemon.get_runs() - calls_before;
  f.polls_cpu = static_cast<double>(f.polls) * daemon.GetRunCost(f.id, 500);
  f.daemon.self = std::max(0.0, f.daemon.self - f.polls_cpu);
  if (done.state() != v1::SUCCEEDED) {
    Die(absl::StrCat("run ", f.id, " of ", suite, " ended ",
                     v1::RunState_Name(done.state()), ": ", done.error(), "\n",
                     daemon.log()));
  }
  f.stored = daemon.Samples(f.id, "gsm8k");
  f.samples = static_cast<int64_t>(f.stored.size());
  f.scores = daemon.Scores(f.id);
  return f;
}

// "user system" seconds each worker's /usr/bin/time wrote, summed; waits
// until `expected` files are complete (a worker exits after its shard is
// stored, so the last file may come a moment after the run ended).
double WorkerCpu(const std::string& dir, int expected, int* files) {
  const double start = Now();
  for (;;) {
    double total = 0;
    int complete = 0;
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
      std::ifstream in(e.path());
      double user = 0, sys = 0;
      if (in >> user >> sys) {
        total += user + sys;
        ++complete;
      }
    }
    if (complete >= expected || Now() - start > 60) {
      *files = complete;
      return total;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int Bench(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  // evald and evalctl are built beside this program.
  if (std::getenv("EVALD_BIN_DIR") == nullptr) {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) Die("cannot read /proc/self/exe: " + ec.message());
    setenv("EVALD_BIN_DIR", self.parent_path().c_str(), 1);
  }
  const std::string bin = evald::testing::BinDir();
  for (const char* program : {"evald", "evalctl"}) {
    if (access((bin + "/" + program).c_str(), X_OK) != 0) {
      Die(absl::StrCat(bin, "/", program,
                       " not found (build it, or set EVALD_BIN_DIR)"));
    }
  }
  if (access("/usr/bin/time", X_OK) != 0) {
    Die("/usr/bin/time not found (Debian package 'time'): it measures the "
        "workers' CPU time");
  }

  evald::testing::TempDir tmp;
  const std::string dir = flags.keep ? "/tmp/evald-cluster-bench" : tmp.path();
  if (flags.keep) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }

  // The model, the workload and the token.
  evald::runners::native::testing::CheckpointSpec spec;
  spec.hidden = flags.hidden;
  spec.layers = flags.layers;
  spec.heads = flags.hidden / 64 > 0 ? flags.hidden / 64 : 1;
  spec.kv_heads = spec.heads % 2 == 0 ? spec.heads / 2 : spec.heads;
  spec.intermediate = flags.hidden * 8 / 3;
  spec.seed = 1;
  const std::string model = dir + "/model";
  if (absl::Status s =
          evald::runners::native::testing::WriteCheckpoint(spec, model);
      !s.ok()) {
    Die(absl::StrCat("writing the model: ", s.message()));
  }
  evald::testing::WriteGsm8kFixture(dir + "/gsm8k", flags.docs);
  const std::string token = dir + "/token";
  evald::testing::WriteTestFile(token, kToken);
  chmod(token.c_str(), 0600);

  // Each worker runs under /usr/bin/time, one thread each, its CPU time in
  // DIR/cpu/worker-<shard>-<pid>.
  const std::string cpu_dir = dir + "/cpu";
  fs::create_directories(cpu_dir);
  const std::string wrapper = dir + "/evald-timed.sh";
  evald::testing::WriteTestFile(
      wrapper,
      absl::StrCat("#!/bin/bash\n",
                   "# `evald worker` under /usr/bin/time: user and system "
                   "CPU seconds to a file.\n",
                   "exec /usr/bin/time -f '%U %S' -o \"", cpu_dir,
                   "/worker-${SLURM_ARRAY_TASK_ID:-x}-$$\" '", bin,
                   "/evald' \"$@\" --threads 1\n"));
  chmod(wrapper.c_str(), 0755);

  const auto write_suite = [&](const std::string& name,
                               const std::string& cluster) {
    const std::string path = absl::StrCat(dir, "/", name, ".yaml");
    evald::testing::WriteTestFile(
        path, absl::StrCat("name: ", name, "\ncandidate: {model: ", model,
                           "}\ntasks:\n  - {name: gsm8k, shots: 2, data: ", dir,
                           "/gsm8k}\n", cluster));
    return path;
  };

  std::printf(
      "evald-cluster-bench: %d GSM8K-shaped documents (2-shot, up to 256 "
      "generated tokens each), model hidden %d x %d layers, %d shards%s\n",
      flags.docs, flags.hidden, flags.layers, flags.shards,
      flags.short_mode ? " (--short)" : "");
  std::fflush(stdout);

  // (a) Locally: one daemon with as many threads as there are shards.
  RunFigures local;
  {
    const int threads =
        flags.local_threads > 0 ? flags.local_threads : flags.shards;
    Daemon daemon(dir + "/local", {"--threads", std::to_string(threads)});
    local = Measure(daemon, write_suite("local", ""), token);
  }

  // (b) Sharded: the Slurm cluster, a coordinator serving TCP with a token,
  // one `evald worker` per array element.
  auto cluster = evald::testing::SlurmCluster::Start();
  if (!cluster.ok()) {
    Die(absl::StrCat("the Slurm cluster did not start: ",
                     cluster.status().message()));
  }
  // The coordinator runs sbatch, scontrol and scancel with its environment.
  setenv("SLURM_CONF", (*cluster)->conf_path().c_str(), 1);
  RunFigures sharded;
  int worker_files = 0;
  double workers_cpu = 0;
  {
    Daemon coordinator(dir + "/coordinator",
                       {"--threads", std::to_string(flags.shards),
                        "--listen-tcp", "127.0.0.1:0", "--token-file", token,
                        "--cluster-poll", absl::StrCat(flags.poll_s)});
    sharded = Measure(
        coordinator,
        write_suite("sharded",
                    absl::StrCat("cluster:\n  slurm: {shards: ", flags.shards,
                                 ", partition: ", (*cluster)->partition(),
                                 ", evald: ", wrapper, "}\n")),
        token);
    workers_cpu = WorkerCpu(cpu_dir, flags.shards, &worker_files);
  }

  // The same samples and scores?
  bool same = local.samples == sharded.samples && local.samples > 0;
  std::string first_difference;
  for (size_t i = 0; same && i < local.stored.size(); ++i) {
    if (!google::protobuf::util::MessageDifferencer::Equals(
            Comparable(local.stored[i]), Comparable(sharded.stored[i]))) {
      same = false;
      first_difference = absl::StrCat("doc ", local.stored[i].doc_index());
    }
  }
  if (same && local.scores.size() != sharded.scores.size()) same = false;
  for (size_t i = 0; same && i < local.scores.size(); ++i) {
    if (!google::protobuf::util::MessageDifferencer::Equals(
            local.scores[i], sharded.scores[i])) {
      same = false;
      first_difference = "scores of " + local.scores[i].task();
    }
  }

  const double coord_self = sharded.daemon.self;
  const double coord_all = sharded.daemon.self + sharded.daemon.children;
  const double sharded_total = coord_all + workers_cpu;
  const double local_total = local.daemon.self + local.daemon.children;
  const double per_sample =
      sharded.samples > 0 ? coord_self / static_cast<double>(sharded.samples)
                          : 0;
  const double per_sample_all =
      sharded.samples > 0 ? coord_all / static_cast<double>(sharded.samples)
                          : 0;
  std::printf(
      "local run %s: wall %.2f s, daemon CPU %.2f s (--threads %d), %lld "
      "samples\n",
      local.id.c_str(), local.wall_s, local_total,
      flags.local_threads > 0 ? flags.local_threads : flags.shards,
      static_cast<long long>(local.samples));
  std::printf(
      "sharded run %s: wall %.2f s over %d Slurm tasks (workers "
      "--threads 1), %lld samples\n",
      sharded.id.c_str(), sharded.wall_s, flags.shards,
      static_cast<long long>(sharded.samples));
  std::printf("wall time sharded / local: %.2f\n",
              local.wall_s > 0 ? sharded.wall_s / local.wall_s : 0);
  // Submit (checks, fingerprint, sbatch) is paid once per run; the rest
  // (polls of Slurm every --poll seconds, the worker RPCs, storing each
  // sample) grows with the run.
  const double after_submit = coord_self - sharded.submit.self;
  std::printf(
      "coordinator CPU: %.3f s own (%.3f s of it in the kernel) + %.3f s of "
      "its Slurm commands (clock ticks of %.0f ms); per stored sample %.3f "
      "ms own, %.3f ms with the commands (goal < 1 ms)\n",
      coord_self, sharded.daemon.self_sys, sharded.daemon.children,
      1e3 / static_cast<double>(sysconf(_SC_CLK_TCK)), per_sample * 1e3,
      per_sample_all * 1e3);
  std::printf(
      "  of it: submit %.3f s own + %.3f s sbatch; after submit %.3f s own "
      "= %.3f ms per stored sample (polling Slurm every %g s)\n",
      sharded.submit.self, sharded.submit.children, after_submit,
      sharded.samples > 0
          ? after_submit / static_cast<double>(sharded.samples) * 1e3
          : 0,
      flags.poll_s);
  std::printf(
      "  (this program polled each daemon with GetRun every 100 ms: %lld "
      "calls, about %.3f s, on the local daemon %lld calls, about %.3f s; "
      "taken off both daemons' figures)\n",
      static_cast<long long>(sharded.polls), sharded.polls_cpu,
      static_cast<long long>(local.polls), local.polls_cpu);
  std::printf("workers CPU: %.2f s over %d worker process(es)\n", workers_cpu,
              worker_files);
  std::printf(
      "total CPU sharded (coordinator + commands + workers) %.2f s / local "
      "daemon %.2f s = %.3f (sharding adds %+.1f%%; goal < 5%%; Slurm's own "
      "daemons not counted)\n",
      sharded_total, local_total,
      local_total > 0 ? sharded_total / local_total : 0,
      local_total > 0 ? (sharded_total / local_total - 1) * 100 : 0);
  std::printf("samples and scores identical: %s%s\n", same ? "yes" : "no",
              first_difference.empty()
                  ? ""
                  : absl::StrCat(" (first difference: ", first_difference, ")")
                        .c_str());
  if (worker_files < flags.shards) {
    std::printf("warning: %d of %d workers' CPU files found in %s\n",
                worker_files, flags.shards, cpu_dir.c_str());
  }
  return same ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Bench(argc, argv);
  } catch (const Fatal& fatal) {
    std::fprintf(stderr, "evald-cluster-bench: %s\n", fatal.message.c_str());
    return 2;
  }
}
