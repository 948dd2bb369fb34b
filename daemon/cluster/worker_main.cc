// File: daemon/cluster/worker_main.cc
// -----------------------------------------------------------------------------
// `evald worker`: flags, the scratch folder, signals, the engine (device,
// threads, max-seqs, memory budget as evald's own), then RunShard.
//
//   evald worker --run RUN [--shard N] --coordinator HOST:PORT|unix:PATH
//                [--token-file FILE]
//   evald worker --run RUN [--shard N] --shared-dir DIR
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/file.h"
#include "daemon/cli/help.h"
#include "daemon/cli/parse.h"
#include "daemon/cluster/shard_files.h"
#include "daemon/cluster/worker.h"
#include "daemon/fingerprint.h"
#include "daemon/model_cache.h"
#include "daemon/planner.h"
#include "runners/native/planner/footprint.h"
#include "runners/native/planner/kv_budget.h"

namespace evald::daemon::cluster {
namespace {

namespace planner = ::evald::runners::native::planner;

struct WorkerFlags {
  std::string run;
  std::string shard;
  std::string coordinator;
  std::string token_file;
  std::string shared_dir;
  std::string data_dir;
  std::string threads, max_seqs;
  std::string device = "auto";
  std::string memory_budget;
  std::string device_memory;
  std::string retry_for = "600";
};

int Fail(int code, const std::string& message) {
  std::cerr << "evald worker: " << message << "\n";
  return code;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

void DeclareFlags(CLI::App& app, WorkerFlags* f) {
  cli::ConfigureRoot(app);
  app.add_option("--run", f->run, "the sharded run (required)")
      ->type_name("RUN");
  app.add_option("--shard", f->shard,
                 "the shard to compute (default $SLURM_ARRAY_TASK_ID)")
      ->type_name("N");
  app.add_option("--coordinator", f->coordinator,
                 "the coordinating evald: HOST:PORT (with --token-file) or "
                 "unix:PATH")
      ->type_name("ADDR");
  app.add_option("--token-file", f->token_file,
                 "the coordinator's bearer token (default $EVALD_TOKEN_FILE)")
      ->type_name("FILE");
  app.add_option("--shared-dir", f->shared_dir,
                 "files transport instead: read the claim from and write the "
                 "samples to DIR/RUN (docs/cluster.md)")
      ->type_name("DIR");
  app.add_option("--data-dir", f->data_dir,
                 "scratch folder (default $TMPDIR/evald-worker-RUN-SHARD, "
                 "created 0700)")
      ->type_name("DIR");
  app.add_option("--threads", f->threads,
                 "CPU worker threads (default: all cores)")
      ->type_name("N");
  app.add_option("--device", f->device,
                 "where native models run (default auto: the GPU when the "
                 "build and the machine have one)")
      ->type_name("auto|cpu|cuda");
  app.add_option("--max-seqs", f->max_seqs,
                 "sequences a native model computes at once (default 16 on the "
                 "CPU, 256 on a GPU)")
      ->type_name("N");
  app.add_option("--memory-budget", f->memory_budget,
                 "the CPU memory the models may use (default: 80% of RAM)")
      ->type_name("SIZE");
  app.add_option("--device-memory", f->device_memory,
                 "plan against a GPU with this much memory (default: the "
                 "GPU's own)")
      ->type_name("SIZE");
  app.add_option("--retry-for", f->retry_for,
                 "how long an unreachable coordinator is retried (default "
                 "600)")
      ->type_name("SECONDS");
  cli::SetExamples(
      app, {"evald worker --run r-1a2b --shard 0 --coordinator login1:7070 "
            "--token-file ~/.evald/token",
            "evald worker --run r-1a2b --shared-dir /scratch/evald"});
}

std::vector<cli::HelpSection> HelpSections() {
  return {
      {"what it does",
       "Computes one shard of a sharded run (a suite with cluster.slurm) on "
       "this node: fingerprints it, claims the shard, loads the models, runs "
       "the shard's documents not stored yet and streams the samples to the "
       "coordinator (or writes them under --shared-dir). The coordinator's "
       "Slurm job array runs it; it can also be run by hand."},
      {"signals",
       "SIGTERM and SIGINT stop it promptly: the samples finished so far are "
       "delivered, the shard is reported failed, and the exit code is 1."},
      {"exit codes",
       "0 every document of the shard was delivered, 1 the shard failed or "
       "was stopped, 2 invalid flags."},
  };
}

}  // namespace

int WorkerMain(int argc, char** argv) {
  umask(0077);
  WorkerFlags f;
  CLI::App app(
      "compute one shard of a sharded run and deliver its samples to the "
      "coordinating evald",
      "evald worker");
  DeclareFlags(app, &f);
  absl::StatusOr<cli::ParseResult> parsed =
      cli::Parse(app, std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed.ok()) {
    std::cerr << parsed.status().message() << "\n";
    return 2;
  }
  if (parsed->help) {
    std::cout << cli::HelpText(app, HelpSections());
    return 0;
  }
  if (f.run.empty()) return Fail(2, "--run is required");
  if (f.shard.empty()) f.shard = Env("SLURM_ARRAY_TASK_ID");
  if (f.shard.empty()) {
    return Fail(2,
                "--shard is required outside a Slurm job array "
                "($SLURM_ARRAY_TASK_ID is not set)");
  }
  WorkerOptions options;
  options.run_id = f.run;
  if (!absl::SimpleAtoi(f.shard, &options.shard) || options.shard < 0) {
    return Fail(2, absl::StrCat("--shard: expected a non-negative integer, "
                                "got '",
                                f.shard, "'"));
  }
  if (f.coordinator.empty() == f.shared_dir.empty()) {
    return Fail(2,
                "give exactly one of --coordinator ADDR (gRPC) and "
                "--shared-dir DIR (files)");
  }
  int threads = 0, max_seqs = 0, retry_for_s = 600;
  for (const auto& [flag, text, out] :
       {std::make_tuple("--threads", &f.threads, &threads),
        std::make_tuple("--max-seqs", &f.max_seqs, &max_seqs),
        std::make_tuple("--retry-for", &f.retry_for, &retry_for_s)}) {
    if (text->empty()) continue;
    if (!absl::SimpleAtoi(*text, out) || *out < 0) {
      return Fail(2,
                  absl::StrCat(flag, ": expected a non-negative integer, got '",
                               *text, "'"));
    }
  }
  if (f.device != "auto" && f.device != "cpu" && f.device != "cuda") {
    return Fail(2, absl::StrCat("--device: expected auto, cpu or cuda, got '",
                                f.device, "'"));
  }
  PlanOptions plan;
  for (const auto& [flag, value, device] :
       {std::make_tuple("--memory-budget", f.memory_budget, PlanDevice::kCpu),
        std::make_tuple("--device-memory", f.device_memory,
                        PlanDevice::kGpu)}) {
    if (value.empty()) continue;
    auto bytes = ParseByteSize(value);
    if (!bytes.ok())
      return Fail(2, absl::StrCat(flag, ": ", bytes.status().message()));
    plan.device = device;
    plan.budget_bytes = *bytes;
  }
  std::string token;
  if (!f.coordinator.empty()) {
    if (f.token_file.empty()) f.token_file = Env("EVALD_TOKEN_FILE");
    if (!f.token_file.empty()) {
      auto text = base::ReadFileToString(f.token_file);
      if (!text.ok())
        return Fail(2, absl::StrCat("--token-file: ", text.status().message()));
      token = std::string(absl::StripAsciiWhitespace(*text));
      if (token.empty())
        return Fail(2, absl::StrCat("--token-file ", f.token_file, ": empty"));
    } else if (!absl::StartsWith(f.coordinator, "unix:")) {
      return Fail(2, absl::StrCat("--coordinator ", f.coordinator,
                                  ": TCP needs the bearer token; pass "
                                  "--token-file FILE or set EVALD_TOKEN_FILE"));
    }
  }

  // Who and where.
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  options.node = host[0] != '\0' ? host : "unknown";
  const std::string array_job = Env("SLURM_ARRAY_JOB_ID");
  const std::string array_task = Env("SLURM_ARRAY_TASK_ID");
  if (!array_job.empty() && !array_task.empty())
    options.slurm_job_id = absl::StrCat(array_job, "_", array_task);
  // The default scratch folder is this worker's own: removed at the end.
  const bool own_scratch = f.data_dir.empty();
  if (f.data_dir.empty()) {
    std::string tmp = Env("TMPDIR");
    if (tmp.empty()) tmp = "/tmp";
    f.data_dir = absl::StrCat(tmp, "/evald-worker-", f.run, "-", options.shard);
  }
  {
    std::error_code ec;
    std::filesystem::create_directories(f.data_dir, ec);
    if (ec || chmod(f.data_dir.c_str(), 0700) != 0) {
      return Fail(1,
                  absl::StrCat("--data-dir ", f.data_dir, ": cannot create: ",
                               ec ? ec.message() : "chmod failed"));
    }
  }
  options.data_dir = f.data_dir;
  options.datasets_root = Env("EVALD_DATA_DIR");
  if (options.datasets_root.empty() && !Env("HOME").empty())
    options.datasets_root = absl::StrCat(Env("HOME"), "/.local/share/evald");

  // SIGTERM/SIGINT set `stop`; a thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::atomic<bool> stop{false};
  std::atomic<bool> finished{false};
  std::thread signal_thread([&] {
    const timespec tick{0, 100'000'000};
    while (!finished.load()) {
      const int sig = sigtimedwait(&signals, nullptr, &tick);
      if (sig == SIGTERM || sig == SIGINT) {
        WorkerLog(absl::StrCat(sig == SIGTERM ? "SIGTERM" : "SIGINT",
                               ": stopping; delivering what is done"));
        stop.store(true);
      }
    }
  });
  options.stop = &stop;

  const v1::Fingerprint host_facts = CollectHostFingerprint();
  if (plan.budget_bytes == 0) {
    if (host_facts.gpus_size() > 0 && f.device != "cpu") {
      plan.device = PlanDevice::kGpu;
      plan.budget_bytes =
          static_cast<int64_t>(host_facts.gpus(0).memory_bytes());
    } else {
      plan.budget_bytes = DefaultCpuBudget();
    }
  }
  planner::KvBudget ledger(
      plan.budget_bytes -
      (plan.device == PlanDevice::kGpu ? planner::kCudaContextReserve : 0));
  ModelCache models(DefaultRunnerFactory(threads, f.device, &ledger, max_seqs),
                    /*max_resident=*/2, base::Clock::Real());

  std::unique_ptr<ShardTransport> transport;
  if (!f.coordinator.empty()) {
    transport =
        MakeGrpcTransport(f.coordinator, token, f.run,
                          absl::Seconds(retry_for_s), absl::Seconds(20), &stop);
  } else {
    transport = MakeFilesTransport(
        f.shared_dir, f.run, options.shard,
        WorkerFileId(options.node, getpid(), absl::ToUnixMillis(absl::Now())));
  }
  WorkerLog(
      absl::StrCat("run ", f.run, " shard ", options.shard,
                   options.slurm_job_id.empty()
                       ? ""
                       : absl::StrCat(" (job ", options.slurm_job_id, ")"),
                   " on ", options.node, ": starting (", transport->Describe(),
                   ", scratch ", f.data_dir, ")"));
  absl::Status status = RunShard(options, *transport, models, host_facts);
  finished.store(true);
  signal_thread.join();
  if (own_scratch) {
    std::error_code ec;
    std::filesystem::remove_all(f.data_dir, ec);
  }
  if (!status.ok()) {
    std::cerr << "evald worker: " << status.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace evald::daemon::cluster
