// evald: the evaluation daemon.
//
//   evald --data-dir DIR [--listen unix:PATH | HOST:PORT] [--token-file FILE]
//         [--threads N] [--max-resident N] [--device auto|cpu|cuda]
//         [--memory-budget SIZE | --device-memory SIZE] ...
//
// `evald --help` lists every flag; they are declared once, in DeclareFlags,
// with the parser evalctl uses (daemon/cli/parse.h), and the man page
// (evald.8, written by the hidden --help-man DIR) comes from the same
// declarations.
//
// Default listen address: unix:DIR/evald.sock (mode 0600). TCP listens where
// told (use 127.0.0.1:PORT for loopback) and always requires a bearer token.
// SIGTERM/SIGINT drain: the running run starts no new document, finishes and
// stores the ones in flight (for at most --drain-timeout seconds, default 20)
// and goes back to the queue, then the daemon exits 0.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/http/http_server.h"
#include "base/json.h"
#include "base/logging.h"
#include "daemon/cli/help.h"
#include "daemon/cli/parse.h"
#include "daemon/cluster/coordinator.h"
#include "daemon/cluster/shard_service.h"
#include "daemon/cluster/worker.h"
#include "daemon/data_dir_lock.h"
#include "daemon/executor.h"
#include "daemon/fingerprint.h"
#include "daemon/model_cache.h"
#include "daemon/openai/openai_server.h"
#include "daemon/planner.h"
#include "daemon/queries.h"
#include "daemon/service.h"
#include "daemon/version.h"
#include "runners/native/planner/footprint.h"
#include "runners/native/planner/kv_budget.h"
#include "store/store.h"

namespace planner = ::evald::runners::native::planner;

namespace {

struct Flags {
  std::string data_dir;
  std::string listen;
  // A TCP address served beside --listen (workers of sharded runs dial it).
  std::string listen_tcp;
  std::string token_file;
  // Sharded runs: the HOST:PORT their workers dial, and how often the
  // cluster manager polls Slurm.
  std::string cluster_address;
  double cluster_poll_s = 5;
  // OpenAI-compatible HTTP endpoint: [HOST:]PORT (off when empty).
  std::string http_listen;
  std::string http_token_file;
  std::vector<std::pair<std::string, std::string>> serve_models;  // name, path
  int threads = 0;
  int max_resident = 2;
  std::string device = "auto";  // where native models run: the GPU when present
  std::string memory_budget;    // CPU budget for the planner; "" = 80% of RAM
  std::string device_memory;    // plan against GPU memory of this size instead
  // SIGTERM: seconds the documents in flight get to finish and be stored.
  int drain_timeout_s = 20;
  // Sequences a native model computes at once; 0: 16 on the CPU, 256 on a GPU.
  int max_seqs = 0;
};

// The models the /v1 endpoint serves, by name, from the shared resident
// model cache (so runs and HTTP requests use one copy of each model).
class ServedModels : public evald::daemon::openai::ModelProvider {
 public:
  ServedModels(evald::daemon::ModelCache* cache,
               std::vector<std::pair<std::string, std::string>> models)
      : cache_(cache), models_(std::move(models)) {}
  std::vector<std::string> ModelNames() const override {
    std::vector<std::string> names;
    for (const auto& [name, path] : models_) names.push_back(name);
    return names;
  }
  absl::StatusOr<std::shared_ptr<evald::runners::Runner>> Get(
      const std::string& name) override {
    for (const auto& [served, path] : models_) {
      if (served != name) continue;
      evald::v1::ModelSpec spec;
      spec.set_path(path);
      auto lease = cache_->Get(spec);
      if (!lease.ok()) return lease.status();
      return lease->runner;
    }
    return absl::NotFoundError(
        absl::StrCat("model '", name, "' is not served here"));
  }
  // max_position_embeddings of the model's config.json (read, not loaded).
  int MaxModelLen(const std::string& name) const override {
    for (const auto& [served, path] : models_) {
      if (served != name) continue;
      auto text = evald::base::ReadFileToString(path + "/config.json");
      if (!text.ok()) return 0;
      auto config = evald::base::ParseJson(*text);
      if (!config.ok()) return 0;
      const evald::base::Json* n = config->Find("max_position_embeddings");
      return n != nullptr && n->is_int() && n->int_value() > 0 &&
                     n->int_value() < (1LL << 31)
                 ? static_cast<int>(n->int_value())
                 : 0;
    }
    return 0;
  }

 private:
  evald::daemon::ModelCache* cache_;
  const std::vector<std::pair<std::string, std::string>> models_;
};

int Fail(int code, const std::string& message) {
  std::cerr << "evald: " << message << "\n";
  return code;
}

// The values of flags parsed as text and checked after the parse, so their
// errors name the flag and the value ("--threads: expected a non-negative
// integer, got 'x'").
struct FlagText {
  std::string threads, max_resident, drain_timeout, max_seqs, cluster_poll;
  std::vector<std::string> serve_models;
  bool version = false;
  std::string help_man;  // hidden: write evald.8 into this folder
};

// evald's command line, declared once: the parser, --help and evald.8.
void DeclareFlags(CLI::App& app, Flags* flags, FlagText* text) {
  evald::daemon::cli::ConfigureRoot(app);
  app.add_option("--data-dir", flags->data_dir,
                 "where evald keeps its store, socket and datasets; created "
                 "(or tightened) to "
                 "mode 0700")
      ->type_name("DIR")
      ->required();
  app.add_option("--listen", flags->listen,
                 "the gRPC address: unix:PATH (default unix:DIR/evald.sock, "
                 "mode 0600) or "
                 "HOST:PORT (127.0.0.1:PORT for loopback; TCP always requires "
                 "--token-file)")
      ->type_name("ADDR");
  app.add_option("--listen-tcp", flags->listen_tcp,
                 "also serve gRPC on this TCP address (requires --token-file), "
                 "e.g. for the workers of sharded runs while --listen stays "
                 "the unix socket")
      ->type_name("HOST:PORT");
  app.add_option("--cluster-address", flags->cluster_address,
                 "the address the Slurm workers of sharded runs dial "
                 "(default: the --listen-tcp address)")
      ->type_name("HOST:PORT");
  app.add_option("--cluster-poll", text->cluster_poll,
                 "seconds between polls of Slurm for sharded runs (default 5)")
      ->type_name("SECONDS");
  app.add_option("--token-file", flags->token_file,
                 "a file holding the bearer token every call must carry")
      ->type_name("FILE");
  app.add_option("--threads", text->threads,
                 "CPU worker threads (default: all cores)")
      ->type_name("N");
  app.add_option("--max-resident", text->max_resident,
                 "models kept loaded at once (default 2)")
      ->type_name("N");
  app.add_option("--device", flags->device,
                 "where native models run (default auto: the GPU when the "
                 "build and the machine "
                 "have one)")
      ->type_name("auto|cpu|cuda");
  app.add_option("--memory-budget", flags->memory_budget,
                 "the CPU memory resident models may use; suites that do not "
                 "fit are refused at "
                 "submit (default: 80% of RAM)")
      ->type_name("SIZE");
  app.add_option("--device-memory", flags->device_memory,
                 "plan against a GPU with this much memory instead (default: "
                 "the GPU's own)")
      ->type_name("SIZE");
  app.add_option("--drain-timeout", text->drain_timeout,
                 "on SIGTERM, how long the documents in flight may take to "
                 "finish and be stored "
                 "(default 20)")
      ->type_name("SECONDS");
  app.add_option("--max-seqs", text->max_seqs,
                 "sequences a native model computes at once (default 16 on the "
                 "CPU, 256 on a GPU)")
      ->type_name("N");
  app.add_option(
         "--http-listen", flags->http_listen,
         "also serve the resident models over an OpenAI-compatible HTTP API "
         "(/v1/completions, /v1/chat/completions, /v1/models)")
      ->type_name("[HOST:]PORT");
  app.add_option("--http-token-file", flags->http_token_file,
                 "the bearer token of the HTTP API (required for a "
                 "non-loopback address)")
      ->type_name("FILE");
  evald::daemon::cli::AddRepeated(
      app, "--serve-model", &text->serve_models,
      "serve the checkpoint at PATH as model NAME on the HTTP API")
      ->type_name("NAME=PATH");
  evald::daemon::cli::AddEarlyFlag(app, "--version", &text->version,
                                   "print the version, commit and build type");
  evald::daemon::cli::AddEarlyOption(app, "--help-man", &text->help_man,
                                     "write evald.8 into DIR")
      ->type_name("DIR")
      ->group("");  // for the build, not for people
  evald::daemon::cli::SetExamples(
      app, {"evald --data-dir ~/.local/share/evald",
            "evald --data-dir /srv/evald --listen 127.0.0.1:7070 "
            "--token-file /etc/evald/token"});
}

std::vector<evald::daemon::cli::HelpSection> HelpSections() {
  return {
      {"signals",
       "SIGTERM and SIGINT drain: the running run starts no new document, "
       "finishes and stores "
       "the ones in flight (for at most --drain-timeout seconds) and goes back "
       "to the queue, to "
       "resume on restart; then evald exits 0."},
      {"files",
       "DIR/evald.sock: the default socket. DIR/store: the RocksDB store of "
       "runs, samples, "
       "scores and fingerprints. DIR/datasets: the datasets `evalctl datasets "
       "fetch` stores. "
       "Every file evald writes is mode 0600."},
      {"worker mode",
       "`evald worker --run RUN --shard N --coordinator HOST:PORT "
       "--token-file FILE` (or `--shared-dir DIR`) computes one shard of a "
       "sharded run on a compute node and delivers its samples to the "
       "coordinating evald; the Slurm jobs of a run with cluster.slurm run "
       "it. `evald worker --help` lists its flags."},
      {"exit codes",
       "0 stopped by a signal, 1 could not start (data dir held by another "
       "evald, "
       "store, listen address), 2 invalid flags."},
  };
}

// Parses argv into `flags`. Returns the exit code when evald should stop
// here (help, version, man page, bad flags), else nullopt.
std::optional<int> ParseFlags(int argc, char** argv, Flags* flags) {
  CLI::App app(
      "the evaluation daemon for LLM checkpoints. It runs the suites evalctl "
      "submits "
      "on its own inference engine and keeps every score, sample and "
      "fingerprint in "
      "its store.",
      "evald");
  FlagText text;
  DeclareFlags(app, flags, &text);
  absl::StatusOr<evald::daemon::cli::ParseResult> parsed =
      evald::daemon::cli::Parse(
          app, std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed.ok()) {  // one line that starts with "evald: "
    std::cerr << parsed.status().message() << "\n";
    return 2;
  }
  if (parsed->help) {
    std::cout << evald::daemon::cli::HelpText(app, HelpSections());
    return 0;
  }
  if (text.version) {
    std::cout << evald::daemon::VersionLine() << "\n";
    return 0;
  }
  if (!text.help_man.empty()) {
    const std::string path = text.help_man + "/evald.8";
    std::error_code ec;
    std::filesystem::create_directories(text.help_man, ec);
    absl::Status written = evald::base::WriteFileAtomically(
        path,
        evald::daemon::cli::ManPage(
            app, {.title = "evald",
                  .section = 8,
                  .source = absl::StrCat("evald ", evald::daemon::Version()),
                  .extra = HelpSections(),
                  .see_also = {"evalctl(1)"}}));
    if (!written.ok()) return Fail(1, std::string(written.message()));
    return 0;
  }
  for (const auto& [flag, value, out] :
       {std::make_tuple("--threads", &text.threads, &flags->threads),
        std::make_tuple("--max-resident", &text.max_resident,
                        &flags->max_resident),
        std::make_tuple("--drain-timeout", &text.drain_timeout,
                        &flags->drain_timeout_s),
        std::make_tuple("--max-seqs", &text.max_seqs, &flags->max_seqs)}) {
    if (value->empty()) continue;
    if (!absl::SimpleAtoi(*value, out) || *out < 0) {
      return Fail(2,
                  absl::StrCat(flag, ": expected a non-negative integer, got '",
                               *value, "'"));
    }
  }
  if (!text.cluster_poll.empty()) {
    if (!absl::SimpleAtod(text.cluster_poll, &flags->cluster_poll_s) ||
        !(flags->cluster_poll_s > 0) || flags->cluster_poll_s > 3600) {
      return Fail(2, absl::StrCat("--cluster-poll: expected seconds between 0 "
                                  "and 3600, got '",
                                  text.cluster_poll, "'"));
    }
  }
  for (const std::string& spec : text.serve_models) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      return Fail(2, absl::StrCat("--serve-model: expected NAME=PATH, got '",
                                  spec, "'"));
    }
    flags->serve_models.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
  }
  if (flags->device != "auto" && flags->device != "cpu" &&
      flags->device != "cuda") {
    return Fail(2, absl::StrCat("--device: expected auto, cpu or cuda, got '",
                                flags->device, "'"));
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace evald;  // NOLINT(build/namespaces): main only
  // `evald worker ...`: compute one shard of a sharded run (daemon/cluster).
  if (argc > 1 && std::string(argv[1]) == "worker")
    return daemon::cluster::WorkerMain(argc - 1, argv + 1);
  // Runs hold every prompt and output: whatever evald creates (the data dir,
  // the store's files, the socket) is its owner's alone.
  umask(0077);
  Flags flags;
  if (std::optional<int> code = ParseFlags(argc, argv, &flags)) return *code;
  // The HTTP endpoint's flags are checked before anything starts (the store
  // is not even opened): a bad port or token file, and an address others can
  // reach without a token, are refused here.
  base::http::HttpServerOptions http_options;
  daemon::openai::OpenAiServerOptions openai_options;
  if (!flags.http_listen.empty()) {
    std::string port_text = flags.http_listen;
    if (size_t colon = flags.http_listen.rfind(':');
        colon != std::string::npos) {
      http_options.host = flags.http_listen.substr(0, colon);
      port_text = flags.http_listen.substr(colon + 1);
    }
    if (http_options.host == "localhost") http_options.host = "127.0.0.1";
    if (!absl::SimpleAtoi(port_text, &http_options.port)) {
      return Fail(2, absl::StrCat("--http-listen: bad port in '",
                                  flags.http_listen, "'"));
    }
    if (!flags.http_token_file.empty()) {
      auto text = base::ReadFileToString(flags.http_token_file);
      if (!text.ok())
        return Fail(
            2, absl::StrCat("--http-token-file: ", text.status().message()));
      openai_options.bearer_token =
          std::string(absl::StripAsciiWhitespace(*text));
      if (openai_options.bearer_token.empty()) {
        return Fail(2, absl::StrCat("--http-token-file ", flags.http_token_file,
                                    ": empty"));
      }
    } else if (!absl::StartsWith(http_options.host, "127.")) {
      return Fail(
          2,
          absl::StrCat("--http-listen ", flags.http_listen,
                       ": a non-loopback address requires --http-token-file"));
    }
    // The server checks the token as soon as its header line arrives, before
    // the request is read whole; the handler checks it again.
    http_options.bearer_token = openai_options.bearer_token;
    http_options.error_body = daemon::openai::OpenAiErrorBody;
  }
  std::error_code ec;
  std::filesystem::path data_dir =
      std::filesystem::absolute(flags.data_dir, ec);
  if (ec)
    return Fail(
        2, absl::StrCat("--data-dir ", flags.data_dir, ": ", ec.message()));
  data_dir = data_dir.lexically_normal();
  std::string dir = data_dir.string();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();

  // Where to listen, and whether a token is needed.
  std::string listen =
      flags.listen.empty() ? "unix:" + dir + "/evald.sock" : flags.listen;
  std::string socket_path;
  bool tcp = false;
  if (absl::StartsWith(listen, "unix:")) {
    socket_path = listen.substr(5);
    if (socket_path.empty()) return Fail(2, "--listen unix:PATH needs a path");
    socket_path =
        std::filesystem::absolute(socket_path).lexically_normal().string();
    listen = "unix:" + socket_path;
  } else {
    tcp = true;
    if (listen.find(':') == std::string::npos) {
      return Fail(2, absl::StrCat("--listen ", listen,
                                  ": expected unix:PATH or HOST:PORT"));
    }
    if (listen.front() == ':') listen = "127.0.0.1" + listen;
  }
  std::string token;
  if (!flags.token_file.empty()) {
    auto text = base::ReadFileToString(flags.token_file);
    if (!text.ok())
      return Fail(2, absl::StrCat("--token-file: ", text.status().message()));
    token = std::string(absl::StripAsciiWhitespace(*text));
    if (token.empty())
      return Fail(2,
                  absl::StrCat("--token-file ", flags.token_file, ": empty"));
  }
  std::string listen_tcp = flags.listen_tcp;
  if (!listen_tcp.empty()) {
    if (absl::StartsWith(listen_tcp, "unix:") ||
        listen_tcp.find(':') == std::string::npos) {
      return Fail(
          2, absl::StrCat("--listen-tcp ", listen_tcp, ": expected HOST:PORT"));
    }
    if (listen_tcp.front() == ':') listen_tcp = "127.0.0.1" + listen_tcp;
    if (token.empty()) {
      return Fail(2, absl::StrCat("--listen-tcp ", listen_tcp,
                                  ": TCP always requires a bearer token; pass "
                                  "--token-file FILE"));
    }
  }
  if (tcp && token.empty()) {
    return Fail(
        2, absl::StrCat(
               "--listen ", listen,
               ": TCP always requires a bearer token; pass --token-file FILE"));
  }
  daemon::PlanOptions plan;
  for (const auto& [flag, value, device] :
       {std::make_tuple("--memory-budget", flags.memory_budget,
                        daemon::PlanDevice::kCpu),
        std::make_tuple("--device-memory", flags.device_memory,
                        daemon::PlanDevice::kGpu)}) {
    if (value.empty()) continue;
    auto bytes = daemon::ParseByteSize(value);
    if (!bytes.ok())
      return Fail(2, absl::StrCat(flag, ": ", bytes.status().message()));
    plan.device = device;
    plan.budget_bytes = *bytes;
  }

  // Signals are taken by sigwait() in this thread; block them everywhere
  // (threads inherit the mask) before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto lock = daemon::DataDirLock::Acquire(dir);
  if (!lock.ok()) return Fail(1, std::string(lock.status().message()));
  auto made_private = daemon::MakeDataDirPrivate(dir);
  if (!made_private.ok())
    return Fail(1, std::string(made_private.status().message()));
  for (const std::string& change : *made_private) {
    LOG(WARNING) << "made the data dir private: " << change;
  }

  store::StoreOptions store_options;
  store_options.path = daemon::StorePath(dir);
  auto store = store::Store::Open(store_options);
  if (!store.ok())
    return Fail(1,
                absl::StrCat("opening the store: ", store.status().message()));

  const base::Clock* clock = base::Clock::Real();
  v1::Fingerprint host = daemon::CollectHostFingerprint();
  LOG(INFO) << "evald " << host.evald_version() << " (" << host.git_commit()
            << "), driver " << host.driver_version() << ", " << host.gpus_size()
            << " GPU(s), cpu " << host.cpu_model();

  if (plan.budget_bytes == 0) {
    // Models run on the GPU when one is present and allowed, else the CPU.
    if (host.gpus_size() > 0 && flags.device != "cpu") {
      plan.device = daemon::PlanDevice::kGpu;
      plan.budget_bytes = static_cast<int64_t>(host.gpus(0).memory_bytes());
    } else {
      plan.budget_bytes = daemon::DefaultCpuBudget();
    }
  }
  LOG(INFO) << "memory budget for resident models: "
            << daemon::FormatBytes(plan.budget_bytes)
            << (plan.device == daemon::PlanDevice::kGpu ? " of GPU memory"
                                                        : " of RAM");
  // One ledger of that memory for every resident model: weights are
  // reserved, KV pools grow and shrink against each other.
  planner::KvBudget memory_ledger(plan.budget_bytes -
                                  (plan.device == daemon::PlanDevice::kGpu
                                       ? planner::kCudaContextReserve
                                       : 0));
  daemon::ModelCache models(
      daemon::DefaultRunnerFactory(flags.threads, flags.device, &memory_ledger,
                                   flags.max_seqs),
      flags.max_resident, clock);
  daemon::Executor executor(
      daemon::ExecutorOptions{
          .data_dir = dir,
          .host = host,
          .drain_timeout = absl::Seconds(flags.drain_timeout_s)},
      store->get(), &models, clock);
  if (absl::Status s = executor.Recover(); !s.ok()) {
    return Fail(1, absl::StrCat("recovering the queue: ", s.message()));
  }
  // Sharded runs: the worker RPCs and the cluster manager.
  daemon::cluster::ShardService shard_service(store->get(), clock);
  daemon::cluster::CoordinatorOptions cluster_options;
  cluster_options.data_dir = dir;
  {
    std::error_code self_ec;
    std::filesystem::path self =
        std::filesystem::read_symlink("/proc/self/exe", self_ec);
    cluster_options.evald = self_ec ? std::string(argv[0]) : self.string();
  }
  if (!flags.token_file.empty()) {
    cluster_options.token_file =
        std::filesystem::absolute(flags.token_file).lexically_normal().string();
  }
  cluster_options.serves_tcp = tcp || !listen_tcp.empty();
  cluster_options.poll_interval = absl::Seconds(flags.cluster_poll_s);
  daemon::EvalServiceImpl service(
      daemon::ServiceOptions{.data_dir = dir, .token = token, .plan = plan},
      store->get(), &executor, &models, host, clock, nullptr, &shard_service);

  if (!socket_path.empty()) {
    // We hold the data-dir lock, so a socket file left here is stale.
    unlink(socket_path.c_str());
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(),
                           tcp ? &port : nullptr);
  int tcp_port = 0;
  if (!listen_tcp.empty()) {
    builder.AddListeningPort(listen_tcp, grpc::InsecureServerCredentials(),
                             &tcp_port);
  }
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(-1);
  const mode_t old_umask = umask(0077);  // the socket is created 0600
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  umask(old_umask);
  if (server == nullptr || (tcp && port == 0) ||
      (!listen_tcp.empty() && tcp_port == 0)) {
    return Fail(1, absl::StrCat("cannot listen on ", listen,
                                listen_tcp.empty() ? "" : " and ", listen_tcp));
  }
  if (!socket_path.empty()) chmod(socket_path.c_str(), 0600);
  std::cerr << "evald: listening on "
            << (tcp ? absl::StrCat(listen.substr(0, listen.rfind(':')), ":",
                                   port)
                    : listen)
            << (listen_tcp.empty()
                    ? ""
                    : absl::StrCat(" and ",
                                   listen_tcp.substr(0, listen_tcp.rfind(':')),
                                   ":", tcp_port))
            << " (pid " << getpid() << ", data dir " << dir << ")" << std::endl;
  // Workers dial --cluster-address, else the TCP address as bound.
  cluster_options.cluster_address = flags.cluster_address;
  if (cluster_options.cluster_address.empty() && !listen_tcp.empty()) {
    cluster_options.cluster_address = absl::StrCat(
        listen_tcp.substr(0, listen_tcp.rfind(':')), ":", tcp_port);
  } else if (cluster_options.cluster_address.empty() && tcp) {
    cluster_options.cluster_address =
        absl::StrCat(listen.substr(0, listen.rfind(':')), ":", port);
  }
  daemon::cluster::Coordinator coordinator(cluster_options, store->get(),
                                           &shard_service, clock);
  service.SetCoordinator(&coordinator);
  executor.Start();
  coordinator.Start();

  // The OpenAI-compatible endpoint. Loopback needs no token; any other
  // address requires --http-token-file.
  std::unique_ptr<base::http::HttpServer> http_server;
  std::unique_ptr<daemon::openai::OpenAiHandler> http_handler;
  std::thread preload;
  if (!flags.http_listen.empty()) {
    http_handler = std::make_unique<daemon::openai::OpenAiHandler>(
        openai_options,
        std::make_shared<ServedModels>(&models, flags.serve_models));
    auto started = base::http::HttpServer::Start(
        http_options,
        [h = http_handler.get()](const base::http::HttpRequest& request,
                                 base::http::ResponseWriter& writer) {
          h->Handle(request, writer);
        });
    if (!started.ok())
      return Fail(1,
                  absl::StrCat("--http-listen: ", started.status().message()));
    http_server = *std::move(started);
    std::cerr << "evald: openai endpoint on http://" << http_options.host << ":"
              << http_server->port() << "/v1" << std::endl;
    // Preload the served models so the first request does not pay the load.
    preload = std::thread([&models, served = flags.serve_models] {
      for (const auto& [name, path] : served) {
        v1::ModelSpec spec;
        spec.set_path(path);
        auto lease = models.Get(spec);
        if (!lease.ok())
          LOG(WARNING) << "--serve-model " << name << ": " << lease.status();
      }
    });
  }

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "evald: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
            << ": draining (the running run resumes on restart)" << std::endl;
  if (http_server != nullptr) http_server->Shutdown();
  if (preload.joinable()) preload.join();
  service.BeginShutdown();
  coordinator.Stop();
  executor.Drain();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  if (!socket_path.empty()) unlink(socket_path.c_str());
  std::cerr << "evald: stopped" << std::endl;
  return 0;
}
