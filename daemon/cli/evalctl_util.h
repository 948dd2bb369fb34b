// File: daemon/cli/evalctl_util.h
// -----------------------------------------------------------------------------
// What evalctl's commands share: the daemon connection (address, bearer
// token), the reader that answers from the daemon or, with --data-dir,
// straight from the store (read-only, no daemon), printing a result in the
// format asked for, and the one mapping from errors to exit codes and
// one-line messages. (Flags are parsed by daemon/cli/parse.h.)
//
// Thread-safety: single-threaded command-line use.
#ifndef EVALD_DAEMON_CLI_EVALCTL_UTIL_H_
#define EVALD_DAEMON_CLI_EVALCTL_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/json.h"
#include "daemon/cli/command.h"
#include "daemon/cli/output.h"
#include "proto/service.grpc.pb.h"

namespace evald::daemon::cli {

// The daemon address evalctl uses: --addr, EVALD_ADDR (read by main), else
// unix:<data dir>/evald.sock, else unix:$HOME/.local/share/evald/evald.sock.
std::string DaemonAddress(const GlobalOptions& global);

// A connected stub plus what every call needs.
class Client {
 public:
  // The token is read from global.token_file when given.
  static absl::StatusOr<std::unique_ptr<Client>> Create(
      const GlobalOptions& global);
  v1::EvalService::Stub& stub() { return *stub_; }
  const std::string& addr() const { return addr_; }
  // Adds the bearer token (and, when > 0, a deadline) to a call.
  void Prepare(grpc::ClientContext* context, int timeout_s = 0) const;
  // A call's status as an absl::Status; an unreachable daemon becomes
  // Unavailable "cannot reach evald at ADDR: reason".
  absl::Status Convert(const grpc::Status& status) const;

 private:
  Client(std::string addr, std::string token,
         std::unique_ptr<v1::EvalService::Stub> stub)
      : addr_(std::move(addr)),
        token_(std::move(token)),
        stub_(std::move(stub)) {}
  std::string addr_;
  std::string token_;
  std::unique_ptr<v1::EvalService::Stub> stub_;
};

// Answers the read-only questions from the daemon or from a store.
class RunReader {
 public:
  virtual ~RunReader() = default;
  virtual absl::StatusOr<v1::ListRunsResponse> ListRuns(
      const v1::ListRunsRequest& request) = 0;
  virtual absl::StatusOr<v1::GetResultsResponse> GetResults(
      const std::string& run_id) = 0;
  // Every sample at once (the daemon's are gathered from its stream).
  virtual absl::StatusOr<v1::ListSamplesResponse> ListSamples(
      const v1::ListSamplesRequest& request) = 0;
  // The same samples a chunk at a time, as the daemon streams them (offline:
  // one chunk). An error `visit` returns ends the stream and is returned.
  virtual absl::Status StreamSamples(
      const v1::ListSamplesRequest& request,
      const std::function<absl::Status(const v1::SampleChunk& chunk)>&
          visit) = 0;
  virtual absl::StatusOr<v1::GetEnvironmentResponse> GetEnvironment(
      const std::string& run_id) = 0;
  // Tags: name -> run id. NotFound names an unknown tag.
  virtual absl::StatusOr<std::map<std::string, std::string>> ListTags() = 0;
  absl::StatusOr<std::string> ResolveTag(const std::string& name);
  // Offline this opens the store for writing, which fails while a daemon
  // holds it (then tag through the daemon).
  virtual absl::Status PutTag(const std::string& name,
                              const std::string& run_id) = 0;
  // Operator commands; offline they open the store for writing (delete,
  // repair), which fails while a daemon holds it.
  virtual absl::StatusOr<v1::DeleteRunResponse> DeleteRun(
      const std::string& run_id) = 0;
  virtual absl::StatusOr<v1::CheckStoreResponse> CheckStore(bool repair) = 0;
  // Stores a finished run made elsewhere with its scores and samples, all or
  // nothing (`evalctl import`); the id is assigned on the way. Offline this
  // opens the store for writing, which fails while a daemon holds it.
  virtual absl::StatusOr<v1::ImportRunResponse> ImportRun(
      v1::RunRecord run, std::vector<v1::TaskScores> scores,
      std::vector<v1::SampleRecord> samples) = 0;
  // Stores a run moved from another store (evald's run file: `first` with
  // header, run and scores, then what `next` yields up to nullopt) under its
  // own id, all or nothing (daemon::ImportRunChunks). An error `next`
  // returns cancels the import and is returned. Offline this opens the store
  // for writing.
  virtual absl::StatusOr<v1::ImportRunResponse> ImportRunChunks(
      v1::ImportRunChunk first,
      const std::function<absl::StatusOr<std::optional<v1::ImportRunChunk>>()>&
          next) = 0;
};
// With global.data_dir: the store opened read-only; otherwise the daemon.
absl::StatusOr<std::unique_ptr<RunReader>> OpenReader(
    const GlobalOptions& global);

// 2 for bad input (InvalidArgument, NotFound, FailedPrecondition, ...),
// 3 for an unreachable daemon, 1 otherwise.
int ExitCodeFor(const absl::Status& status);
// Prints "evalctl: <message>" to context.err and returns ExitCodeFor(status).
int ReportError(CommandContext& context, const absl::Status& status);

// Prints "evalctl: warning: ..." to context.err for each record the store
// could not read, with the way out.
void WarnUnreadable(
    CommandContext& context,
    const google::protobuf::RepeatedPtrField<std::string>& unreadable);

// `message` as protobuf's JSON mapping (.proto field names), parsed.
base::Json MessageJson(const google::protobuf::Message& message);
// Prints `message` in `format`: JSON on one line (daemon::ToJson), or YAML of
// that JSON; kTable prints what `table` returns.
void PrintMessage(CommandContext& context, OutputFormat format,
                  const google::protobuf::Message& message,
                  const std::function<std::string()>& table);

// True when `out` is a terminal (live progress bars instead of lines).
bool IsTerminal(const std::ostream& out);

}  // namespace evald::daemon::cli

#endif  // EVALD_DAEMON_CLI_EVALCTL_UTIL_H_
