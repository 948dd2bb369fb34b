#include "daemon/cli/evalctl_util.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "daemon/queries.h"
#include "daemon/render.h"
#include "daemon/status_convert.h"
#include "store/store.h"

namespace evald::daemon::cli {

std::string DaemonAddress(const GlobalOptions& global) {
  if (!global.addr.empty()) return global.addr;
  if (!global.data_dir.empty())
    return absl::StrCat("unix:", global.data_dir, "/evald.sock");
  return absl::StrCat("unix:", DefaultDataDir(), "/evald.sock");
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(
    const GlobalOptions& global) {
  std::string token;
  if (!global.token_file.empty()) {
    ASSIGN_OR_RETURN(token,
                     base::ReadTokenFile("--token-file", global.token_file));
  }
  const std::string addr = DaemonAddress(global);
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(
      addr, grpc::InsecureChannelCredentials(), channel_args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad daemon address '", addr, "'"));
  }
  return std::unique_ptr<Client>(
      new Client(addr, std::move(token), v1::EvalService::NewStub(channel)));
}

void Client::Prepare(grpc::ClientContext* context, int timeout_s) const {
  if (!token_.empty())
    context->AddMetadata("authorization", "Bearer " + token_);
  if (timeout_s > 0) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(timeout_s));
  }
}

absl::Status Client::Convert(const grpc::Status& status) const {
  if (status.ok()) return absl::OkStatus();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return absl::UnavailableError(absl::StrCat("cannot reach evald at ", addr_,
                                               ": ", status.error_message()));
  }
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    return absl::UnauthenticatedError(absl::StrCat(
        "evald at ", addr_, " refused the call: ", status.error_message(),
        " (see --token-file)"));
  }
  return daemon::FromGrpcStatus(status);
}

namespace {

class DaemonReader : public RunReader {
 public:
  explicit DaemonReader(std::unique_ptr<Client> client)
      : client_(std::move(client)) {}

  absl::StatusOr<v1::ListRunsResponse> ListRuns(
      const v1::ListRunsRequest& request) override {
    grpc::ClientContext context;
    client_->Prepare(&context, 60);
    v1::ListRunsResponse response;
    RETURN_IF_ERROR(client_->Convert(
        client_->stub().ListRuns(&context, request, &response)));
    return response;
  }
  absl::StatusOr<v1::GetResultsResponse> GetResults(
      const std::string& run_id) override {
    grpc::ClientContext context;
    client_->Prepare(&context, 60);
    v1::GetResultsRequest request;
    request.set_run_id(run_id);
    v1::GetResultsResponse response;
    RETURN_IF_ERROR(client_->Convert(
        client_->stub().GetResults(&context, request, &response)));
    return response;
  }
  absl::StatusOr<v1::ListSamplesResponse> ListSamples(
      const v1::ListSamplesRequest& request) override {
    v1::ListSamplesResponse response;
    RETURN_IF_ERROR(StreamSamples(request, [&](const v1::SampleChunk& chunk) {
      response.mutable_samples()->MergeFrom(chunk.samples());
      response.mutable_unreadable()->MergeFrom(chunk.unreadable());
      return absl::OkStatus();
    }));
    return response;
  }
  absl::Status StreamSamples(
      const v1::ListSamplesRequest& request,
      const std::function<absl::Status(const v1::SampleChunk& chunk)>& visit)
      override {
    grpc::ClientContext context;
    client_->Prepare(&context, 600);
    std::unique_ptr<grpc::ClientReader<v1::SampleChunk>> reader =
        client_->stub().StreamSamples(&context, request);
    v1::SampleChunk chunk;
    while (reader->Read(&chunk)) {
      if (absl::Status s = visit(chunk); !s.ok()) {
        context.TryCancel();
        reader->Finish();
        return s;
      }
    }
    return client_->Convert(reader->Finish());
  }
  absl::StatusOr<v1::GetEnvironmentResponse> GetEnvironment(
      const std::string& run_id) override {
    grpc::ClientContext context;
    client_->Prepare(&context, 60);
    v1::GetEnvironmentRequest request;
    request.set_run_id(run_id);
    v1::GetEnvironmentResponse response;
    RETURN_IF_ERROR(client_->Convert(
        client_->stub().GetEnvironment(&context, request, &response)));
    return response;
  }
  absl::StatusOr<std::map<std::string, std::string>> ListTags() override {
    grpc::ClientContext context;
    client_->Prepare(&context, 60);
    v1::ListTagsResponse response;
    RETURN_IF_ERROR(
        client_->Convert(client_->stub().ListTags(&context, {}, &response)));
    return std::map<std::string, std::string>(response.tags().begin(),
                                              response.tags().end());
  }
  absl::Status PutTag(const std::string& name,
                      const std::string& run_id) override {
    grpc::ClientContext context;
    client_->Prepare(&context, 60);
    v1::PutTagRequest request;
    request.set_name(name);
    request.set_run_id(run_id);
    v1::PutTagResponse response;
    return client_->Convert(
        client_->stub().PutTag(&context, request, &response));
  }
  absl::StatusOr<v1::DeleteRunResponse> DeleteRun(
      const std::string& run_id) override {
    grpc::ClientContext context;
    client_->Prepare(&context, 120);
    v1::DeleteRunRequest request;
    request.set_run_id(run_id);
    v1::DeleteRunResponse response;
    RETURN_IF_ERROR(client_->Convert(
        client_->stub().DeleteRun(&context, request, &response)));
    return response;
  }
  absl::StatusOr<v1::CheckStoreResponse> CheckStore(bool repair) override {
    grpc::ClientContext context;
    client_->Prepare(&context, 600);
    v1::CheckStoreRequest request;
    request.set_repair(repair);
    v1::CheckStoreResponse response;
    RETURN_IF_ERROR(client_->Convert(
        client_->stub().CheckStore(&context, request, &response)));
    return response;
  }
  absl::StatusOr<v1::ImportRunResponse> ImportRun(
      v1::RunRecord run, std::vector<v1::TaskScores> scores,
      std::vector<v1::SampleRecord> samples) override {
    grpc::ClientContext context;
    client_->Prepare(&context, 600);
    v1::ImportRunResponse response;
    std::unique_ptr<grpc::ClientWriter<v1::ImportRunChunk>> writer =
        client_->stub().ImportRun(&context, &response);
    v1::ImportRunChunk chunk;
    *chunk.mutable_run() = std::move(run);
    for (v1::TaskScores& s : scores) *chunk.add_scores() = std::move(s);
    // A few MiB per message, under any server's receive limit.
    constexpr size_t kChunkBytes = 4 << 20;
    size_t bytes = 0;
    bool open = true;
    for (v1::SampleRecord& s : samples) {
      bytes += s.ByteSizeLong();
      *chunk.add_samples() = std::move(s);
      if (bytes >= kChunkBytes) {
        open = writer->Write(chunk);
        chunk.Clear();
        bytes = 0;
        if (!open) break;
      }
    }
    if (open && (chunk.ByteSizeLong() > 0 || chunk.has_run())) {
      writer->Write(chunk);
    }
    writer->WritesDone();
    RETURN_IF_ERROR(client_->Convert(writer->Finish()));
    return response;
  }
  absl::StatusOr<v1::ImportRunResponse> ImportRunChunks(
      v1::ImportRunChunk first,
      const std::function<absl::StatusOr<std::optional<v1::ImportRunChunk>>()>&
          next) override {
    grpc::ClientContext context;
    client_->Prepare(&context, 3600);
    v1::ImportRunResponse response;
    std::unique_ptr<grpc::ClientWriter<v1::ImportRunChunk>> writer =
        client_->stub().ImportRun(&context, &response);
    bool open = writer->Write(first);
    while (open) {
      absl::StatusOr<std::optional<v1::ImportRunChunk>> chunk = next();
      if (!chunk.ok()) {
        // The daemon sees the call cancelled and removes what it stored.
        context.TryCancel();
        writer->Finish().error_code();
        return chunk.status();
      }
      if (!chunk->has_value()) break;
      open = writer->Write(**chunk);
    }
    writer->WritesDone();
    RETURN_IF_ERROR(client_->Convert(writer->Finish()));
    return response;
  }

 private:
  std::unique_ptr<Client> client_;
};

class StoreReader : public RunReader {
 public:
  StoreReader(std::unique_ptr<store::Store> store, std::string path)
      : store_(std::move(store)), path_(std::move(path)) {}

  absl::StatusOr<std::map<std::string, std::string>> ListTags() override {
    ASSIGN_OR_RETURN(auto tags, store_->ListTags());
    return std::map<std::string, std::string>(tags.begin(), tags.end());
  }
  absl::Status PutTag(const std::string& name,
                      const std::string& run_id) override {
    ASSIGN_OR_RETURN(std::unique_ptr<store::Store> writable,
                     OpenWritable("tag"));
    RETURN_IF_ERROR(writable->GetRun(run_id).status());
    return writable->PutTag(name, run_id);
  }
  absl::StatusOr<v1::DeleteRunResponse> DeleteRun(
      const std::string& run_id) override {
    ASSIGN_OR_RETURN(std::unique_ptr<store::Store> writable,
                     OpenWritable("delete"));
    return daemon::DeleteStoredRun(*writable, run_id);
  }
  absl::StatusOr<v1::CheckStoreResponse> CheckStore(bool repair) override {
    if (!repair) return daemon::CheckStoredRecords(*store_, false, {});
    ASSIGN_OR_RETURN(std::unique_ptr<store::Store> writable,
                     OpenWritable("fsck --repair"));
    return daemon::CheckStoredRecords(*writable, true, {});
  }
  absl::StatusOr<v1::ImportRunResponse> ImportRun(
      v1::RunRecord run, std::vector<v1::TaskScores> scores,
      std::vector<v1::SampleRecord> samples) override {
    ASSIGN_OR_RETURN(std::unique_ptr<store::Store> writable,
                     OpenWritable("import"));
    run.clear_id();
    run.set_created_unix_ms(0);
    const int64_t count = static_cast<int64_t>(samples.size());
    ASSIGN_OR_RETURN(v1::RunRecord stored,
                     writable->ImportRun(std::move(run), std::move(scores),
                                         std::move(samples)));
    v1::ImportRunResponse response;
    *response.mutable_run() = std::move(stored);
    response.set_samples(count);
    return response;
  }
  absl::StatusOr<v1::ImportRunResponse> ImportRunChunks(
      v1::ImportRunChunk first,
      const std::function<absl::StatusOr<std::optional<v1::ImportRunChunk>>()>&
          next) override {
    ASSIGN_OR_RETURN(std::unique_ptr<store::Store> writable,
                     OpenWritable("import"));
    return daemon::ImportRunChunks(*writable, std::move(first), next, "import");
  }

  absl::StatusOr<v1::ListRunsResponse> ListRuns(
      const v1::ListRunsRequest& request) override {
    return daemon::ReadRuns(*store_, request);
  }
  absl::StatusOr<v1::GetResultsResponse> GetResults(
      const std::string& run_id) override {
    return daemon::ReadResults(*store_, run_id);
  }
  absl::StatusOr<v1::ListSamplesResponse> ListSamples(
      const v1::ListSamplesRequest& request) override {
    return daemon::ReadSamples(*store_, request);
  }
  absl::Status StreamSamples(
      const v1::ListSamplesRequest& request,
      const std::function<absl::Status(const v1::SampleChunk& chunk)>& visit)
      override {
    // A few samples at a time, as the daemon streams them, so a task of any
    // size is read in bounded memory.
    constexpr int kChunkSamples = 64;
    v1::SampleChunk chunk;
    absl::Status visited;
    store::Unreadable unreadable;
    RETURN_IF_ERROR(daemon::VisitSamples(
        *store_, request,
        [&](v1::SampleRecord s) {
          *chunk.add_samples() = std::move(s);
          if (chunk.samples_size() < kChunkSamples) return true;
          visited = visit(chunk);
          chunk.Clear();
          return visited.ok();
        },
        &unreadable));
    RETURN_IF_ERROR(visited);
    // Records the store could not read are named with the last chunk.
    for (std::string& u : unreadable) chunk.add_unreadable(std::move(u));
    return visit(chunk);
  }
  absl::StatusOr<v1::GetEnvironmentResponse> GetEnvironment(
      const std::string& run_id) override {
    if (run_id.empty()) {
      return absl::InvalidArgumentError(
          "env: name a RUN (the store has no current environment)");
    }
    return daemon::ReadEnvironment(*store_, run_id);
  }

 private:
  // The store opened for writing, which only works while no daemon holds it.
  absl::StatusOr<std::unique_ptr<store::Store>> OpenWritable(
      absl::string_view command) {
    store::StoreOptions options;
    options.path = path_;
    options.create_if_missing = false;
    absl::StatusOr<std::unique_ptr<store::Store>> writable =
        store::Store::Open(options);
    if (!writable.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(command, ": cannot open ", path_,
                       " for writing (is evald running? then run it through "
                       "the daemon, without --data-dir): ",
                       writable.status().message()));
    }
    return writable;
  }

  std::unique_ptr<store::Store> store_;
  std::string path_;
};

}  // namespace

absl::StatusOr<std::string> RunReader::ResolveTag(const std::string& name) {
  ASSIGN_OR_RETURN(auto tags, ListTags());
  auto it = tags.find(name);
  if (it == tags.end())
    return absl::NotFoundError(absl::StrCat("unknown tag '", name, "'"));
  return it->second;
}

absl::StatusOr<std::unique_ptr<RunReader>> OpenReader(
    const GlobalOptions& global) {
  if (!global.data_dir.empty()) {
    const std::string path = daemon::StorePath(global.data_dir);
    if (!base::IsDirectory(path)) {
      return absl::NotFoundError(absl::StrCat("--data-dir ", global.data_dir,
                                              ": no evald store at ", path));
    }
    store::StoreOptions options;
    options.path = path;
    options.read_only = true;
    options.create_if_missing = false;
    ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store,
                     store::Store::Open(options));
    return std::unique_ptr<RunReader>(new StoreReader(std::move(store), path));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Create(global));
  return std::unique_ptr<RunReader>(new DaemonReader(std::move(client)));
}

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
      return kExitInvalidInput;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnreachable;
    default:
      return kExitRunFailed;
  }
}

int ReportError(CommandContext& context, const absl::Status& status) {
  std::string message(status.message());
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  context.err << "evalctl: " << message << "\n";
  return ExitCodeFor(status);
}

void WarnUnreadable(
    CommandContext& context,
    const google::protobuf::RepeatedPtrField<std::string>& unreadable) {
  for (const std::string& u : unreadable)
    context.err << "evalctl: warning: skipped " << u << "\n";
}

base::Json MessageJson(const google::protobuf::Message& message) {
  absl::StatusOr<base::Json> json = base::ParseJson(daemon::ToJson(message));
  CHECK(json.ok()) << "protobuf printed JSON that does not parse: "
                   << json.status();
  return *std::move(json);
}

void PrintMessage(CommandContext& context, OutputFormat format,
                  const google::protobuf::Message& message,
                  const std::function<std::string()>& table) {
  switch (format) {
    case OutputFormat::kJson:
    case OutputFormat::kJsonLines:
      context.out << daemon::ToJson(message) << "\n";
      return;
    case OutputFormat::kYaml:
      context.out << JsonToYaml(MessageJson(message));
      return;
    case OutputFormat::kTable:
      context.out << table();
      return;
  }
}

bool IsTerminal(const std::ostream& out) {
  if (&out == &std::cout) return isatty(STDOUT_FILENO) != 0;
  if (&out == &std::cerr) return isatty(STDERR_FILENO) != 0;
  return false;
}

}  // namespace evald::daemon::cli
