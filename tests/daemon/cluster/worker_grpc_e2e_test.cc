// File: tests/daemon/cluster/worker_grpc_e2e_test.cc
// `evald worker` over gRPC against a real coordinator: a real evald whose
// sharded run is submitted to a real single-node Slurm cluster as a held
// job array (so Slurm runs nothing), and two workers run by hand, over TCP
// with the bearer token. The run completes, and its samples and scores equal
// a local run of the same suite, document for document.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/json.h"
#include "proto/service.grpc.pb.h"
#include "tests/daemon/evald_test_base.h"
#include "tests/daemon/process.h"
#include "tests/testing/fixtures.h"
#include "tests/testing/slurm_cluster.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "s3cret-token";

class WorkerGrpcTest : public EvaldTestBase {
 protected:
  std::vector<v1::SampleRecord> Samples(const std::string& run,
                                        const std::string& task) {
    auto stub = v1::EvalService::NewStub(
        grpc::CreateChannel(addr_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + std::string(kToken));
    v1::ListSamplesRequest request;
    request.set_run_id(run);
    request.set_task(task);
    v1::ListSamplesResponse response;
    grpc::Status s = stub->ListSamples(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {response.samples().begin(), response.samples().end()};
  }

  static v1::SampleRecord Comparable(v1::SampleRecord s) {
    s.clear_run_id();
    s.clear_finished_unix_ms();
    s.clear_wall_s();
    s.clear_cached_tokens();
    s.clear_worker();
    return s;
  }

  // A real Slurm cluster (the daemon runs sbatch and scontrol against it),
  // a token, a free TCP port, and evald coordinating on it; the tiny model.
  void StartCoordinator() {
    absl::StatusOr<std::unique_ptr<SlurmCluster>> cluster =
        SlurmCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status().message();
    cluster_ = *std::move(cluster);
    setenv("SLURM_CONF", cluster_->conf_path().c_str(), 1);
    ProcessResult made =
        RunProcess({BinDir() + "/evald-make-checkpoint", "--preset", "tiny",
                    "--seed", "1", "--out", tmp_.Join("model")});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    WriteTestFile(token_file_, absl::StrCat(kToken, "\n"));
    // evalctl (Ctl, Results) carries it too.
    setenv("EVALD_TOKEN_FILE", token_file_.c_str(), 1);
    const int port = FreeLoopbackPort();
    ASSERT_GT(port, 0);
    tcp_ = absl::StrCat("127.0.0.1:", port);
    StartDaemon(CoordinatorFlags());
  }
  std::vector<std::string> CoordinatorFlags() const {
    return {"--listen-tcp",   tcp_, "--token-file", token_file_,
            "--cluster-poll", "0.5"};
  }
  void TearDown() override {
    unsetenv("SLURM_CONF");
    unsetenv("EVALD_TOKEN_FILE");
  }
  std::vector<std::string> WorkerArgs(const std::string& run, int shard,
                                      const std::string& scratch) {
    return {BinDir() + "/evald",
            "worker",
            "--run",
            run,
            "--shard",
            std::to_string(shard),
            "--coordinator",
            tcp_,
            "--token-file",
            token_file_,
            "--device",
            "cpu",
            "--threads",
            "2",
            "--data-dir",
            tmp_.Join(scratch)};
  }

  std::unique_ptr<SlurmCluster> cluster_;
  const std::string token_file_ = tmp_.Join("token");
  std::string tcp_;

  // Every task's metrics, without the run id.
  static std::string Scores(const base::Json& results) {
    const base::Json* scores = results.Find("scores");
    if (scores == nullptr || !scores->is_array()) return "";
    std::string out;
    for (const base::Json& s : scores->array()) {
      absl::StrAppend(&out, s.Find("task") ? s.Find("task")->Dump() : "", ":",
                      s.Find("metrics") ? s.Find("metrics")->Dump() : "", "\n");
    }
    return out;
  }
};

TEST_F(WorkerGrpcTest, TwoWorkersByHandCompleteAShardedRunEqualToALocalOne) {
  StartCoordinator();
  ASSERT_NE(cluster_, nullptr);
  WriteGsm8kFixture(tmp_.Join("gsm8k"), 9);
  std::string mmlu_test;
  for (int i = 0; i < 7; ++i) {
    mmlu_test += absl::StrCat("What is ", i, " plus ", i + 1, "?,", 2 * i, ",",
                              2 * i + 1, ",", 2 * i + 2, ",", 2 * i + 3, ",",
                              std::string(1, "ABCD"[i % 4]), "\n");
  }
  WriteTestFile(tmp_.Join("mmlu/test/high_school_mathematics_test.csv"),
                mmlu_test);
  WriteTestFile(tmp_.Join("mmlu/dev/high_school_mathematics_dev.csv"),
                "What is 1 times 2?,2,1,3,1,A\nWhat is 2 times 2?,4,2,4,1,A\n");
  const std::string tasks = absl::StrCat(
      "tasks:\n  - {name: mmlu, shots: 2, data: ", tmp_.Join("mmlu"),
      "}\n  - {name: gsm8k, shots: 3, data: ", tmp_.Join("gsm8k"), "}\n");
  const std::string head = absl::StrCat(
      "name: shards\ncandidate:\n  model: ", tmp_.Join("model"), "\n", tasks);
  WriteTestFile(tmp_.Join("local.yaml"), head);
  WriteTestFile(tmp_.Join("sharded.yaml"),
                absl::StrCat(head, "cluster:\n  slurm:\n    shards: 2\n",
                             "    partition: ", cluster_->partition(), "\n",
                             "    extra_args: [\"--hold\"]\n"));

  const std::string& token_file = token_file_;
  const std::string& tcp = tcp_;
  ProcessResult local = Ctl({"--token-file", token_file, "--json", "submit",
                             tmp_.Join("local.yaml"), "--wait"});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  const std::string local_id = Str(Json(local), {"run", "id"});
  ASSERT_FALSE(local_id.empty()) << local.out;

  ProcessResult sharded_submit =
      Ctl({"--token-file", token_file, "submit", tmp_.Join("sharded.yaml")});
  ASSERT_EQ(sharded_submit.exit_code, 0)
      << sharded_submit.err << daemon_->log();
  const std::string sharded_id =
      std::string(absl::StripAsciiWhitespace(sharded_submit.out));
  ASSERT_FALSE(sharded_id.empty());

  // The workers Slurm would run, run by hand (Slurm holds the array).
  auto worker = [&](int shard, const std::string& scratch) {
    return RunProcess(WorkerArgs(sharded_id, shard, scratch),
                      {"SLURM_ARRAY_TASK_ID=", "SLURM_ARRAY_JOB_ID="}, 600);
  };
  ProcessResult first = worker(0, "scratch-0");
  ASSERT_EQ(first.exit_code, 0) << first.err << daemon_->log();
  EXPECT_THAT(first.err, HasSubstr("samples delivered to coordinator " + tcp));
  // Shard 0 again (a requeued job): it is stored already, nothing to compute.
  ProcessResult again = worker(0, "scratch-again");
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.err, HasSubstr(" 0 documents to compute"));
  ProcessResult second = worker(1, "scratch-1");
  ASSERT_EQ(second.exit_code, 0) << second.err << daemon_->log();

  base::Json results;
  ASSERT_TRUE(WaitFor(
      [&] {
        results = Results(sharded_id);
        return State(results) == "SUCCEEDED" || State(results) == "FAILED";
      },
      120))
      << daemon_->log();
  ASSERT_EQ(State(results), "SUCCEEDED") << results.Dump() << daemon_->log();
  const base::Json local_results = Results(local_id);
  EXPECT_EQ(Scores(results), Scores(local_results));
  EXPECT_FALSE(Scores(results).empty());

  for (const std::string task : {"mmlu", "gsm8k"}) {
    const std::vector<v1::SampleRecord> want = Samples(local_id, task);
    const std::vector<v1::SampleRecord> got = Samples(sharded_id, task);
    ASSERT_EQ(got.size(), want.size()) << task;
    ASSERT_FALSE(want.empty());
    std::map<int64_t, const v1::SampleRecord*> by_doc;
    for (const v1::SampleRecord& s : got) {
      EXPECT_THAT(s.worker(), HasSubstr(" on "))
          << task << " " << s.doc_index();
      by_doc[s.doc_index()] = &s;
    }
    for (const v1::SampleRecord& w : want) {
      ASSERT_EQ(by_doc.count(w.doc_index()), 1u)
          << task << " " << w.doc_index();
      std::string diff;
      google::protobuf::util::MessageDifferencer differencer;
      differencer.ReportDifferencesToString(&diff);
      EXPECT_TRUE(differencer.Compare(Comparable(w),
                                      Comparable(*by_doc[w.doc_index()])))
          << task << " doc " << w.doc_index() << ": " << diff;
    }
  }
  // A worker that comes after the run ended is told so, in one line.
  ProcessResult late = worker(1, "scratch-late");
  EXPECT_EQ(late.exit_code, 1);
  EXPECT_THAT(late.err, HasSubstr("evald worker: ClaimShard (run " +
                                  sharded_id + ") at coordinator " + tcp));
}

TEST_F(WorkerGrpcTest, AWorkerRidesOutACoordinatorKilledAndRestarted) {
  StartCoordinator();
  ASSERT_NE(cluster_, nullptr);
  constexpr int kDocs = 600;
  WriteGsm8kFixture(tmp_.Join("gsm8k"), kDocs);
  WriteTestFile(
      tmp_.Join("sharded.yaml"),
      absl::StrCat("name: restart\ncandidate:\n  model: ", tmp_.Join("model"),
                   "\ntasks:\n  - {name: gsm8k, shots: 3, data: ",
                   tmp_.Join("gsm8k"), "}\ncluster:\n  slurm:\n    shards: 1\n",
                   "    partition: ", cluster_->partition(), "\n",
                   "    extra_args: [\"--hold\"]\n"));
  ProcessResult submitted = Ctl({"submit", tmp_.Join("sharded.yaml")});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err << daemon_->log();
  const std::string run =
      std::string(absl::StripAsciiWhitespace(submitted.out));

  // The worker runs in the background, its stderr in a file.
  const std::string log = tmp_.Join("worker.log");
  std::vector<std::string> args = WorkerArgs(run, 0, "scratch");
  args.insert(args.end(), {"--max-seqs", "4"});
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (freopen(log.c_str(), "w", stderr) == nullptr) _exit(126);
    unsetenv("SLURM_ARRAY_TASK_ID");
    unsetenv("SLURM_ARRAY_JOB_ID");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  auto worker_log = [&] {
    auto text = base::ReadFileToString(log);
    return text.ok() ? *text : std::string();
  };
  // Some samples stored, then the coordinator dies without a word.
  ASSERT_TRUE(WaitFor([&] { return Done(Results(run)) > 0; }, 300))
      << worker_log() << daemon_->log();
  daemon_->Signal(SIGKILL, /*wait=*/true);
  const int64_t before_restart = Done(Results(run, /*offline=*/true));
  EXPECT_LT(before_restart, kDocs) << "the worker finished before the kill";
  // The worker keeps its samples and retries while nobody answers.
  ASSERT_TRUE(WaitFor(
      [&] { return worker_log().find("unavailable") != std::string::npos; },
      60))
      << worker_log();
  StartDaemon(CoordinatorFlags());

  int status = 0;
  ASSERT_TRUE(
      WaitFor([&] { return waitpid(pid, &status, WNOHANG) == pid; }, 600))
      << worker_log();
  ASSERT_TRUE(WIFEXITED(status)) << worker_log();
  EXPECT_EQ(WEXITSTATUS(status), 0) << worker_log() << daemon_->log();
  EXPECT_THAT(worker_log(), HasSubstr("retrying in"));
  EXPECT_THAT(worker_log(),
              HasSubstr(absl::StrCat("done, ", kDocs, " samples delivered")));

  base::Json results;
  ASSERT_TRUE(WaitFor(
      [&] {
        results = Results(run);
        return State(results) == "SUCCEEDED" || State(results) == "FAILED";
      },
      120))
      << daemon_->log();
  EXPECT_EQ(State(results), "SUCCEEDED") << results.Dump() << daemon_->log();
  EXPECT_EQ(Done(results), kDocs);
  const std::vector<v1::SampleRecord> stored = Samples(run, "gsm8k");
  std::set<int64_t> docs;
  for (const v1::SampleRecord& s : stored) docs.insert(s.doc_index());
  EXPECT_EQ(stored.size(), static_cast<size_t>(kDocs));
  EXPECT_EQ(docs.size(), static_cast<size_t>(kDocs));
}

}  // namespace
}  // namespace evald::testing
