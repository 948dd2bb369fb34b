// StreamSamples: a task of thousands of documents reaches the client in many
// bounded messages. The service runs in process over a real store on a unix
// socket, with a send limit far below the task's size, so the one-message
// ListSamples fails where the stream (and evalctl samples, which uses it)
// succeeds.
#include <gmock/gmock.h>
#include <grpc/grpc.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/clock.h"
#include "base/json.h"
#include "daemon/executor.h"
#include "daemon/model_cache.h"
#include "daemon/queries.h"
#include "daemon/service.h"
#include "proto/service.grpc.pb.h"
#include "store/store.h"
#include "tests/daemon/process.h"
#include "tests/daemon/stored_runs.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kSamples = 3000;
constexpr size_t kPromptBytes = 1024;  // about 3 MiB of samples in all
constexpr int kMessageLimit =
    256 * 1024;  // both ways, for this server and client

class SamplesStreamTest : public ::testing::Test {
 protected:
  // gRPC stays initialised between the tests: tearing it down when a test's
  // last channel goes and starting it again for the next can stall.
  static void SetUpTestSuite() { grpc_init(); }
  static void TearDownTestSuite() { grpc_shutdown(); }

  void SetUp() override {
    run_ = WriteFinishedRun(data_dir_, StoredRun{.task = "gsm8k",
                                                 .samples = kSamples,
                                                 .prompt_bytes = kPromptBytes});
    ASSERT_FALSE(run_.empty());
    store::StoreOptions options;
    options.path = daemon::StorePath(data_dir_);
    auto store = store::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    const base::Clock* clock = base::Clock::Real();
    models_ = std::make_unique<daemon::ModelCache>(
        [](const v1::ModelSpec&)
            -> absl::StatusOr<std::unique_ptr<runners::Runner>> {
          return absl::UnimplementedError("no models in this test");
        },
        1, clock);
    // Never started: nothing runs, the service only reads the store.
    executor_ = std::make_unique<daemon::Executor>(
        daemon::ExecutorOptions{.data_dir = data_dir_}, store_.get(),
        models_.get(), clock);
    service_ = std::make_unique<daemon::EvalServiceImpl>(
        daemon::ServiceOptions{.data_dir = data_dir_}, store_.get(),
        executor_.get(), models_.get(), v1::Fingerprint(), clock);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(addr_, grpc::InsecureServerCredentials());
    builder.RegisterService(service_.get());
    builder.SetMaxSendMessageSize(kMessageLimit);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMessageLimit);
    stub_ = v1::EvalService::NewStub(grpc::CreateCustomChannel(
        addr_, grpc::InsecureChannelCredentials(), args));
  }
  void TearDown() override {
    stub_.reset();
    if (server_ != nullptr) server_->Shutdown();
  }

  // Every message of a StreamSamples call.
  std::vector<v1::SampleChunk> Stream(const v1::ListSamplesRequest& request,
                                      grpc::Status* status) {
    grpc::ClientContext context;
    auto reader = stub_->StreamSamples(&context, request);
    std::vector<v1::SampleChunk> chunks;
    v1::SampleChunk chunk;
    while (reader->Read(&chunk)) chunks.push_back(chunk);
    *status = reader->Finish();
    return chunks;
  }
  v1::ListSamplesRequest Request() {
    v1::ListSamplesRequest request;
    request.set_run_id(run_);
    request.set_task("gsm8k");
    return request;
  }

  TempDir tmp_;
  const std::string data_dir_ = tmp_.Join("data");
  const std::string addr_ = "unix:" + tmp_.Join("evald.sock");
  std::string run_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<daemon::ModelCache> models_;
  std::unique_ptr<daemon::Executor> executor_;
  std::unique_ptr<daemon::EvalServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::EvalService::Stub> stub_;
};

TEST_F(SamplesStreamTest, ATaskTooLargeForOneMessageArrivesInManySmallOnes) {
  // The one-message call cannot carry it.
  {
    grpc::ClientContext context;
    v1::ListSamplesResponse response;
    grpc::Status status = stub_->ListSamples(&context, Request(), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << status.error_message();
  }
  grpc::Status status;
  std::vector<v1::SampleChunk> chunks = Stream(Request(), &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GE(chunks.size(),
            static_cast<size_t>(kSamples /
                                daemon::EvalServiceImpl::kSamplesPerChunk));
  int64_t next = 0;
  for (const v1::SampleChunk& chunk : chunks) {
    EXPECT_GT(chunk.samples_size(), 0);
    EXPECT_LE(chunk.samples_size(), daemon::EvalServiceImpl::kSamplesPerChunk);
    EXPECT_LT(chunk.ByteSizeLong(), static_cast<size_t>(kMessageLimit));
    EXPECT_EQ(chunk.unreadable_size(), 0);
    for (const v1::SampleRecord& s : chunk.samples())
      EXPECT_EQ(s.doc_index(), next++);
  }
  EXPECT_EQ(next, kSamples);
}

TEST_F(SamplesStreamTest, TheStreamHonoursFailedOnlyLimitAndUnknownTasks) {
  v1::ListSamplesRequest failed = Request();
  failed.set_failed_only(true);
  grpc::Status status;
  int count = 0;
  for (const v1::SampleChunk& chunk : Stream(failed, &status)) {
    for (const v1::SampleRecord& s : chunk.samples()) {
      EXPECT_EQ(s.metrics().at("exact_match"), 0.0);
      ++count;
    }
  }
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(count, kSamples / 2);

  v1::ListSamplesRequest limited = Request();
  limited.set_limit(100);
  std::vector<v1::SampleChunk> chunks = Stream(limited, &status);
  ASSERT_TRUE(status.ok());
  count = 0;
  for (const v1::SampleChunk& chunk : chunks) count += chunk.samples_size();
  EXPECT_EQ(count, 100);
  EXPECT_EQ(chunks.size(), 2u);  // 64 + 36

  v1::ListSamplesRequest unknown = Request();
  unknown.set_task("mmlu");
  EXPECT_TRUE(Stream(unknown, &status).empty());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("has no task 'mmlu'"));
}

TEST_F(SamplesStreamTest, EvalctlSamplesPrintsWhatNoSingleMessageCouldCarry) {
  const std::string evalctl = BinDir() + "/evalctl";
  ProcessResult json = RunProcess(
      {evalctl, "--addr", addr_, "samples", run_, "gsm8k", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto parsed = base::ParseJson(json.out);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const base::Json* samples = parsed->Find("samples");
  ASSERT_NE(samples, nullptr);
  ASSERT_EQ(samples->array().size(), static_cast<size_t>(kSamples));
  EXPECT_EQ(samples->array().back().Find("doc_id")->string_value(),
            absl::StrCat(kSamples - 1));

  ProcessResult lines = RunProcess({evalctl, "--addr", addr_, "samples", run_,
                                    "gsm8k", "-o", "jsonl", "--failed"});
  ASSERT_EQ(lines.exit_code, 0) << lines.err;
  std::vector<std::string> records =
      absl::StrSplit(lines.out, '\n', absl::SkipEmpty());
  EXPECT_EQ(records.size(), static_cast<size_t>(kSamples / 2));

  ProcessResult table = RunProcess(
      {evalctl, "--addr", addr_, "samples", run_, "gsm8k", "--limit", "70"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("#69 69  exact_match=0\n"));
}

}  // namespace
}  // namespace evald::testing
