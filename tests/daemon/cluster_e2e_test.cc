// File: tests/daemon/cluster_e2e_test.cc
// Sharded runs end to end on a real single-node Slurm cluster
// (tests/testing/slurm_cluster.h): a real evald coordinator serving its unix
// socket and TCP loopback with a token file, real `evald worker` processes
// started by Slurm's job arrays, and a tiny random-weight checkpoint the
// test writes. A run sharded 4 ways equals the same suite run locally,
// sample for sample and score for score; a worker killed with SIGKILL and a
// job scancelled then requeued lose nothing and store nothing twice; a
// coordinator killed with SIGKILL re-attaches to its jobs on restart; bad
// input is one clear line with nothing stored.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file.h"
#include "proto/service.grpc.pb.h"
#include "tests/daemon/evald_test_base.h"
#include "tests/daemon/process.h"
#include "tests/testing/fixtures.h"
#include "tests/testing/slurm_cluster.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

// Shared by every test: the checkpoint, the datasets, the Slurm cluster and
// the local runs' samples and scores to compare with.
TempDir* g_fixture = nullptr;
SlurmCluster* g_cluster = nullptr;
std::string* g_cluster_error = nullptr;

constexpr char kToken[] = "cluster-test-token-0123456789";
// GSM8K documents of the "long" datasets: enough that a shard's worker is
// still computing when it is killed.
constexpr int kLongGsm8k = 800;

void WriteDatasets(const std::string& root, int gsm_docs, int mmlu_docs) {
  WriteGsm8kFixture(root + "/gsm8k", gsm_docs);
  WriteMmluFixture(root + "/mmlu", mmlu_docs);
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

class ClusterTest : public EvaldTestBase {
 protected:
  static void SetUpTestSuite() {
    if (g_fixture != nullptr) return;
    g_fixture = new TempDir();
    ProcessResult made =
        RunProcess({BinDir() + "/evald-make-checkpoint", "--preset", "tiny",
                    "--seed", "1", "--out", g_fixture->Join("model")});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    WriteDatasets(g_fixture->Join("small"), 8, 12);
    WriteDatasets(g_fixture->Join("long"), kLongGsm8k, 40);
    WriteTestFile(g_fixture->Join("token"), kToken);
    auto cluster = SlurmCluster::Start();
    if (!cluster.ok()) {
      g_cluster_error = new std::string(cluster.status().message());
      return;
    }
    g_cluster = cluster->release();
    // evald runs sbatch, scontrol and scancel with its own environment.
    setenv("SLURM_CONF", g_cluster->conf_path().c_str(), 1);
  }

  static void TearDownTestSuite() {
    delete g_cluster;  // cancels its jobs, stops the daemons by PID
    g_cluster = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(g_cluster, nullptr) << "the Slurm test cluster did not start: "
                                  << (g_cluster_error ? *g_cluster_error : "");
    port_ = FreeLoopbackPort();
    ASSERT_GT(port_, 0);
    StartCoordinator();
  }

  void StartCoordinator() {
    StartDaemon({"--listen-tcp", absl::StrCat("127.0.0.1:", port_),
                 "--token-file", g_fixture->Join("token"), "--cluster-poll",
                 "0.5"});
  }

  // evalctl through the daemon's socket, with the token every call needs.
  ProcessResult Call(std::vector<std::string> args, int timeout_s = 300) {
    args.insert(args.begin(), {"--token-file", g_fixture->Join("token")});
    return Ctl(std::move(args), timeout_s);
  }

  // A suite over the fixture's `size` datasets; `cluster` is the body of
  // cluster.slurm ("" for a local run).
  std::string WriteSuite(const std::string& name, const std::string& size,
                         const std::string& cluster) {
    const std::string path = tmp_.Join(name + ".yaml");
    std::string text = absl::StrCat(
        "name: ", name, "\ncandidate:\n  model: ", g_fixture->Join("model"),
        "\ntasks:\n",
        "  - {name: mmlu, shots: 2, data: ", g_fixture->Join(size), "/mmlu}\n",
        "  - {name: gsm8k, shots: 2, data: ", g_fixture->Join(size),
        "/gsm8k}\n");
    if (!cluster.empty()) {
      absl::StrAppend(&text, "cluster:\n  slurm: {", cluster, "}\n");
    }
    WriteTestFile(path, text);
    return path;
  }

  std::string SubmitSuite(const std::string& suite) {
    ProcessResult r = Call({"--json", "submit", suite});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::string id = Str(Json(r), {"run_id"});
    EXPECT_FALSE(id.empty()) << r.out;
    return id;
  }

  std::unique_ptr<v1::EvalService::Stub> Stub() {
    return v1::EvalService::NewStub(
        grpc::CreateChannel(addr_, grpc::InsecureChannelCredentials()));
  }
  void Prepare(grpc::ClientContext* context) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
  }

  v1::RunRecord GetRun(const std::string& run) {
    grpc::ClientContext context;
    Prepare(&context);
    v1::GetRunRequest request;
    request.set_run_id(run);
    v1::RunRecord record;
    grpc::Status s = Stub()->GetRun(&context, request, &record);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return record;
  }

  std::vector<v1::SampleRecord> Samples(const std::string& run,
                                        const std::string& task) {
    grpc::ClientContext context;
    Prepare(&context);
    v1::ListSamplesRequest request;
    request.set_run_id(run);
    request.set_task(task);
    v1::ListSamplesResponse response;
    grpc::Status s = Stub()->ListSamples(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {response.samples().begin(), response.samples().end()};
  }

  // Every task's scores without the run id, in task order.
  std::string Scores(const std::string& run) {
    grpc::ClientContext context;
    Prepare(&context);
    v1::GetResultsRequest request;
    request.set_run_id(run);
    v1::GetResultsResponse response;
    grpc::Status s = Stub()->GetResults(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::string out;
    for (v1::TaskScores scores : response.scores()) {
      scores.clear_run_id();
      absl::StrAppend(&out, scores.SerializeAsString(), "\n");
    }
    return out;
  }

  // Waits for the run to end; its final record.
  v1::RunRecord WaitDone(const std::string& run, int timeout_s = 600) {
    v1::RunRecord record;
    EXPECT_TRUE(WaitFor(
        [&] {
          record = GetRun(run);
          return record.state() == v1::SUCCEEDED ||
                 record.state() == v1::FAILED ||
                 record.state() == v1::CANCELLED;
        },
        timeout_s))
        << record.DebugString() << daemon_->log() << g_cluster->LogTail();
    return record;
  }

  // The local run of the suite over `size`, computed once per size.
  const std::string& LocalRun(const std::string& size) {
    std::string& id = local_runs_[size];
    if (id.empty()) {
      id = SubmitSuite(WriteSuite("local-" + size, size, ""));
      v1::RunRecord done = WaitDone(id);
      EXPECT_EQ(done.state(), v1::SUCCEEDED) << done.error();
    }
    return id;
  }

  // Every stored sample of `sharded` equals `local`'s (both complete, each
  // document once), and so does every score, bit for bit.
  void ExpectSameAsLocal(const std::string& sharded, const std::string& local) {
    for (const std::string task : {"mmlu", "gsm8k"}) {
      std::vector<v1::SampleRecord> a = Samples(local, task);
      std::vector<v1::SampleRecord> b = Samples(sharded, task);
      ASSERT_EQ(a.size(), b.size()) << task;
      ASSERT_FALSE(a.empty());
      std::set<int64_t> docs;
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_TRUE(docs.insert(b[i].doc_index()).second)
            << task << " doc " << b[i].doc_index() << " stored twice";
        EXPECT_THAT(b[i].worker(), HasSubstr("shard "));
        EXPECT_TRUE(
            MessageDifferencer::Equals(Comparable(a[i]), Comparable(b[i])))
            << task << " doc " << a[i].doc_index() << "\nlocal:\n"
            << Comparable(a[i]).DebugString() << "sharded:\n"
            << Comparable(b[i]).DebugString();
      }
    }
    EXPECT_EQ(Scores(sharded), Scores(local));
    EXPECT_FALSE(Scores(sharded).empty());
  }

  // The runs `evalctl list` shows.
  std::set<std::string> ListedRuns() {
    ProcessResult r = Call({"--json", "list"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::set<std::string> ids;
    base::Json j = Json(r);
    const base::Json* runs = j.Find("runs");
    if (runs == nullptr || !runs->is_array()) return ids;
    for (const base::Json& run : runs->array()) ids.insert(Str(run, {"id"}));
    return ids;
  }

  int port_ = 0;
  std::map<std::string, std::string> local_runs_;
};

TEST_F(ClusterTest, ShardedFourWaysEqualsTheLocalRun) {
  const std::string local = LocalRun("small");
  const std::string run = SubmitSuite(WriteSuite(
      "sharded", "small",
      absl::StrCat("shards: 4, partition: ", g_cluster->partition())));
  v1::RunRecord done = WaitDone(run);
  ASSERT_EQ(done.state(), v1::SUCCEEDED)
      << done.error() << daemon_->log() << g_cluster->LogTail();
  ASSERT_EQ(done.shards_size(), 4);
  ASSERT_EQ(done.slurm_jobs_size(), 1);  // one array, nothing resubmitted
  int64_t documents = 0;
  for (const v1::ShardState& s : done.shards()) {
    EXPECT_EQ(s.status(), v1::SHARD_DONE) << s.DebugString();
    EXPECT_EQ(s.done(), s.documents());
    EXPECT_EQ(s.node(), g_cluster->node());
    EXPECT_EQ(s.slurm_job_id(),
              absl::StrCat(done.slurm_jobs(0), "_", s.index()));
    EXPECT_EQ(s.failures(), 0);
    EXPECT_GE(s.claims(), 1);
    documents += s.documents();
  }
  EXPECT_EQ(documents, 12 + 8);
  ExpectSameAsLocal(run, local);

  // watch and status show the shards.
  ProcessResult watch = Call({"watch", run});
  EXPECT_EQ(watch.exit_code, 0) << watch.err;
  EXPECT_THAT(watch.out, HasSubstr("shards 4 done"));
  EXPECT_THAT(watch.out, HasSubstr(absl::StrCat(done.slurm_jobs(0), "_3")));
  EXPECT_THAT(watch.out, HasSubstr("5/5"));
}

TEST_F(ClusterTest, FilesTransportEqualsTheLocalRun) {
  const std::string local = LocalRun("small");
  const std::string shared = tmp_.Join("shared");
  const std::string run = SubmitSuite(WriteSuite(
      "files", "small",
      absl::StrCat("shards: 3, transport: files, shared_dir: ", shared,
                   ", partition: ", g_cluster->partition())));
  v1::RunRecord done = WaitDone(run);
  ASSERT_EQ(done.state(), v1::SUCCEEDED)
      << done.error() << daemon_->log() << g_cluster->LogTail();
  ASSERT_EQ(done.shards_size(), 3);
  for (const v1::ShardState& s : done.shards()) {
    EXPECT_EQ(s.status(), v1::SHARD_DONE) << s.DebugString();
    EXPECT_EQ(s.node(), g_cluster->node());
    EXPECT_EQ(s.claims(), 1);
  }
  // The coordinator wrote the claims; the workers never dialled it.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(base::PathExists(
        absl::StrCat(shared, "/", run, "/shard-", i, ".claim")));
  }
  ExpectSameAsLocal(run, local);
}

TEST_F(ClusterTest, KilledWorkerAndRequeuedJobLoseNothingAndStoreNothingTwice) {
  const std::string local = LocalRun("long");
  const std::string run = SubmitSuite(
      WriteSuite("faults", "long",
                 absl::StrCat("shards: 4, max_failures: 3, partition: ",
                              g_cluster->partition())));
  // Shard 1's worker, once it has stored part of its shard: SIGKILL.
  v1::RunRecord record;
  ASSERT_TRUE(WaitFor(
      [&] {
        record = GetRun(run);
        if (record.shards_size() < 2) return false;
        const v1::ShardState& s = record.shards(1);
        return s.claims() > 0 && s.done() > 0 && s.done() < s.documents();
      },
      300))
      << record.DebugString() << daemon_->log();
  ProcessResult pids =
      RunProcess({"/usr/bin/pgrep", "-f",
                  absl::StrCat("worker --run ", run, " --shard 1")});
  std::vector<std::string> lines =
      absl::StrSplit(pids.out, '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty())
      << "no worker of shard 1 found: " << pids.err << record.DebugString();
  bool killed_mid_shard = false;
  for (const std::string& line : lines) {
    pid_t pid = 0;
    if (absl::SimpleAtoi(line, &pid) && pid != getpid() &&
        kill(pid, SIGKILL) == 0)
      killed_mid_shard = true;
  }
  ASSERT_TRUE(killed_mid_shard);

  // Shard 2's job, once its worker runs: scancel, then scontrol requeue.
  ASSERT_TRUE(WaitFor(
      [&] {
        record = GetRun(run);
        return record.shards(2).claims() > 0 || record.state() != v1::RUNNING;
      },
      300));
  const std::string job = record.shards(2).slurm_job_id();
  ProcessResult cancelled = RunProcess({"/usr/bin/scancel", job});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.err;
  absl::Status requeued = g_cluster->Requeue(job);
  EXPECT_TRUE(requeued.ok()) << requeued;

  v1::RunRecord done = WaitDone(run);
  ASSERT_EQ(done.state(), v1::SUCCEEDED)
      << done.error() << daemon_->log() << g_cluster->LogTail();
  EXPECT_GE(done.shards(1).failures(), 1) << done.shards(1).DebugString();
  EXPECT_GE(done.shards(1).submissions() + done.shards(1).claims(), 2);
  // No sample lost, none stored twice, and the same scores.
  ExpectSameAsLocal(run, local);
}

TEST_F(ClusterTest, AShardFailingMoreThanMaxFailuresFailsTheRun) {
  // Every job's worker command fails at once: `evald` is not there.
  const std::string run = SubmitSuite(WriteSuite(
      "failing", "small",
      absl::StrCat("shards: 2, max_failures: 1, evald: ", tmp_.Join("nowhere"),
                   ", partition: ", g_cluster->partition())));
  v1::RunRecord done = WaitDone(run);
  ASSERT_EQ(done.state(), v1::FAILED) << daemon_->log();
  // Slurm's state, the node, the job and the job output's last lines.
  EXPECT_THAT(done.error(), HasSubstr("Slurm state FAILED on "));
  EXPECT_THAT(done.error(), HasSubstr(g_cluster->node()));
  EXPECT_THAT(done.error(), HasSubstr("last lines: "));
  EXPECT_THAT(done.error(), HasSubstr("nowhere"));
  // Submitted once, resubmitted once (max_failures 1), then given up.
  int failed = 0;
  for (const v1::ShardState& s : done.shards()) {
    EXPECT_LE(s.failures(), 2) << s.DebugString();
    if (s.status() == v1::SHARD_FAILED) {
      ++failed;
      EXPECT_EQ(s.failures(), 2);
      EXPECT_EQ(s.submissions(), 2);
    }
  }
  EXPECT_GE(failed, 1);
  EXPECT_GE(done.slurm_jobs_size(), 2);
  ProcessResult results = Call({"results", run});
  EXPECT_EQ(results.exit_code, 1) << results.out << results.err;
}

TEST_F(ClusterTest, RestartedCoordinatorReattachesWithoutResubmitting) {
  const std::string run = SubmitSuite(WriteSuite(
      "restart", "long",
      absl::StrCat("shards: 4, partition: ", g_cluster->partition())));
  // Killed while shards run (some possibly done).
  v1::RunRecord before;
  ASSERT_TRUE(WaitFor(
      [&] {
        before = GetRun(run);
        int64_t done = 0;
        for (const v1::ShardState& s : before.shards()) done += s.done();
        return done > 0 || before.state() != v1::RUNNING;
      },
      300));
  ASSERT_EQ(before.state(), v1::RUNNING) << before.error();
  daemon_->Signal(SIGKILL, /*wait=*/true);
  // What the store held when it died.
  ProcessResult stored = Offline({"--json", "results", run});
  ASSERT_EQ(stored.exit_code, 0) << stored.err;

  StartCoordinator();
  v1::RunRecord done = WaitDone(run);
  ASSERT_EQ(done.state(), v1::SUCCEEDED)
      << done.error() << daemon_->log() << g_cluster->LogTail();
  // The workers of the first array finished their shards: no new sbatch.
  EXPECT_EQ(done.slurm_jobs_size(), 1) << done.DebugString();
  for (const v1::ShardState& s : done.shards()) {
    EXPECT_EQ(s.submissions(), 1) << s.DebugString();
    EXPECT_EQ(s.status(), v1::SHARD_DONE);
  }
  ExpectSameAsLocal(run, LocalRun("long"));
}

// The worker RPCs by hand against a run whose array Slurm holds (so no
// real worker runs): claims check fingerprints and pins, samples are
// checked and stored once, cancel scancels and stops deliveries.
TEST_F(ClusterTest, WorkerCallsAreCheckedAndStoredOnce) {
  const std::string run = SubmitSuite(
      WriteSuite("by-hand", "small",
                 absl::StrCat("shards: 4, extra_args: [--hold], partition: ",
                              g_cluster->partition())));
  const v1::RunRecord record = GetRun(run);
  ASSERT_EQ(record.state(), v1::RUNNING);
  ASSERT_EQ(record.slurm_jobs_size(), 1);
  ASSERT_TRUE(record.has_fingerprint());
  auto tcp = v1::EvalService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  auto claim = [&](int shard, const std::string& node,
                   const v1::Fingerprint& fingerprint,
                   v1::ClaimShardResponse* response) {
    grpc::ClientContext context;
    Prepare(&context);
    v1::ClaimShardRequest request;
    request.set_run_id(run);
    request.set_shard(shard);
    request.set_node(node);
    *request.mutable_fingerprint() = fingerprint;
    return tcp->ClaimShard(&context, request, response);
  };
  auto put = [&](int shard, std::vector<v1::SampleRecord> samples,
                 v1::PutShardSamplesResponse* response) {
    grpc::ClientContext context;
    Prepare(&context);
    v1::PutShardSamplesRequest request;
    request.set_run_id(run);
    request.set_shard(shard);
    request.set_claim(1);
    for (v1::SampleRecord& s : samples) *request.add_samples() = std::move(s);
    return tcp->PutShardSamples(&context, request, response);
  };
  auto sample = [&](const std::string& task, int64_t doc) {
    v1::SampleRecord s;
    s.set_run_id(run);
    s.set_task(task);
    s.set_doc_index(doc);
    s.set_doc_id(absl::StrCat(task, "-", doc));
    s.add_responses("by hand");
    return s;
  };

  // Shard 1: gsm8k's 8 documents split 2 per shard, mmlu's 12 3 per shard.
  v1::ClaimShardResponse claimed;
  grpc::Status s = claim(1, "nodeA", record.fingerprint(), &claimed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(claimed.claim(), 1);
  EXPECT_EQ(claimed.spec().name(), "by-hand");
  ASSERT_EQ(claimed.tasks_size(), 2);
  EXPECT_EQ(claimed.tasks(0).task(), "mmlu");
  EXPECT_EQ(claimed.tasks(0).first_doc(), 3);
  EXPECT_EQ(claimed.tasks(0).end_doc(), 6);
  EXPECT_EQ(claimed.tasks(1).task(), "gsm8k");
  EXPECT_EQ(claimed.tasks(1).first_doc(), 2);
  EXPECT_EQ(claimed.tasks(1).end_doc(), 4);
  EXPECT_EQ(claimed.tasks(1).todo_size(), 2);
  EXPECT_EQ(claimed.drift_size(), 0);

  v1::PutShardSamplesResponse stored;
  s = put(1, {sample("gsm8k", 2), sample("mmlu", 4)}, &stored);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(stored.stored(), 2);
  EXPECT_EQ(stored.duplicates(), 0);
  EXPECT_FALSE(stored.stop());
  // A second delivery is a no-op.
  v1::SampleRecord changed = sample("gsm8k", 2);
  changed.set_responses(0, "a different answer");
  s = put(1, {changed, sample("gsm8k", 3)}, &stored);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(stored.stored(), 1);
  EXPECT_EQ(stored.duplicates(), 1);
  std::vector<v1::SampleRecord> gsm = Samples(run, "gsm8k");
  ASSERT_EQ(gsm.size(), 2u);
  EXPECT_EQ(gsm[0].responses(0), "by hand");
  EXPECT_EQ(gsm[0].worker(), absl::StrCat("shard 1 on nodeA (job ",
                                          record.slurm_jobs(0), "_1)"));
  // A claim again is told only what is still missing.
  s = claim(1, "nodeA", record.fingerprint(), &claimed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(claimed.claim(), 2);
  EXPECT_EQ(claimed.tasks(1).todo_size(), 0);
  EXPECT_EQ(claimed.tasks(0).todo_size(), 2);

  // Bad samples: nothing of the batch is stored.
  s = put(1, {sample("mmlu", 5), sample("gsm8k", 4)}, &stored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("doc 4 is outside the shard"));
  s = put(1, {sample("ifeval", 3)}, &stored);
  EXPECT_THAT(s.error_message(), HasSubstr("'ifeval' is not a task"));
  v1::SampleRecord other = sample("mmlu", 5);
  other.set_run_id("r-other");
  s = put(1, {other}, &stored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Samples(run, "mmlu").size(), 1u);
  s = put(7, {}, &stored);
  EXPECT_THAT(s.error_message(), HasSubstr("not shard 7"));

  // Another model file than the run's: refused, naming shard and node.
  v1::Fingerprint changed_model = record.fingerprint();
  ASSERT_GT(changed_model.models(0).files_size(), 0);
  changed_model.mutable_models(0)->mutable_files(0)->set_sha256("0badc0de");
  s = claim(2, "nodeB", changed_model, &claimed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("shard 2 on nodeB"));
  EXPECT_THAT(s.error_message(),
              HasSubstr(record.fingerprint().models(0).files(0).name()));
  // Another driver than the first worker's: recorded as drift.
  v1::Fingerprint other_driver = record.fingerprint();
  other_driver.set_driver_version("999.1");
  s = claim(3, "nodeC", other_driver, &claimed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(claimed.drift_size(), 1);
  EXPECT_EQ(claimed.drift(0).field(), "shard 3 on nodeC: driver");
  v1::RunRecord drifted = GetRun(run);
  EXPECT_TRUE(drifted.drifted());
  EXPECT_EQ(drifted.shards(3).node(), "nodeC");
  EXPECT_EQ(drifted.shards(3).status(), v1::SHARD_RUNNING);
  EXPECT_EQ(drifted.shards(2).claims(), 0);

  // A worker's failure is recorded on its shard.
  {
    grpc::ClientContext context;
    Prepare(&context);
    v1::FinishShardRequest finish;
    finish.set_run_id(run);
    finish.set_shard(3);
    finish.set_claim(1);
    finish.set_error("out of memory");
    finish.set_log_tail("worker: loading the model");
    v1::FinishShardResponse response;
    s = tcp->FinishShard(&context, finish, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_THAT(GetRun(run).shards(3).last_error(),
                HasSubstr("out of memory; last lines: worker: loading"));
  }

  // Without the token, nothing.
  {
    grpc::ClientContext context;
    v1::ClaimShardRequest request;
    request.set_run_id(run);
    s = tcp->ClaimShard(&context, request, &claimed);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }

  // status lists the shards of the active run, as the manager's last poll
  // counted them.
  EXPECT_TRUE(WaitFor([&] { return GetRun(run).shards(1).done() == 3; }, 60));
  ProcessResult status = Call({"status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_THAT(status.out,
              HasSubstr(absl::StrCat("run ", run, ", 4 shards on Slurm (jobs ",
                                     record.slurm_jobs(0), ")")));
  EXPECT_THAT(status.out, HasSubstr("nodeC"));
  EXPECT_THAT(status.out, HasSubstr(absl::StrCat(record.slurm_jobs(0), "_0")));
  EXPECT_THAT(status.out, HasSubstr("3/5"));  // shard 1: 3 of 5 stored

  // cancel scancels the held array; deliveries are told to stop.
  ProcessResult cancelled = Call({"cancel", run});
  EXPECT_EQ(cancelled.exit_code, 0) << cancelled.err;
  EXPECT_EQ(GetRun(run).state(), v1::CANCELLED);
  ProcessResult squeue =
      RunProcess({"/usr/bin/squeue", "-h", "-j", record.slurm_jobs(0)});
  EXPECT_THAT(squeue.out, ::testing::Not(HasSubstr("PD")));
  s = put(1, {sample("mmlu", 5)}, &stored);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(stored.stop());
  EXPECT_EQ(stored.stored(), 0);
}

TEST_F(ClusterTest, BadInputIsOneLineAndStoresNothing) {
  const std::set<std::string> runs_before = ListedRuns();
  auto expect_refused = [&](const std::string& suite, const std::string& text) {
    ProcessResult r = Call({"submit", suite});
    EXPECT_NE(r.exit_code, 0) << r.out;
    std::string err(absl::StripTrailingAsciiWhitespace(r.err));
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
    EXPECT_THAT(err, HasSubstr(text));
  };
  expect_refused(WriteSuite("unknown-key", "small", "shards: 2, nodes: 3"),
                 "cluster.slurm");
  expect_refused(WriteSuite("unknown-key", "small", "shards: 2, nodes: 3"),
                 "nodes");
  expect_refused(WriteSuite("no-shards", "small", "shards: 0"),
                 "cluster.slurm.shards");
  // A pairwise-judged task compares with another run's answers.
  WriteTestFile(tmp_.Join("prompts.jsonl"),
                "{\"question_id\": 1, \"turns\": [\"Say hi.\"]}\n");
  const std::string pairwise = tmp_.Join("pairwise.yaml");
  WriteTestFile(
      pairwise,
      absl::StrCat(
          "name: pairwise\ncandidate:\n  model: ", g_fixture->Join("model"),
          "\njudge:\n  model: ", g_fixture->Join("model"),
          "\ntasks:\n  - name: judged\n",
          "    data: ", tmp_.Join("prompts.jsonl"),
          "\n    options: {mode: pairwise, baseline: r-elsewhere}\n",
          "cluster:\n  slurm: {shards: 2, partition: ", g_cluster->partition(),
          "}\n"));
  expect_refused(pairwise,
                 "task 'judged': a pairwise baseline is not supported in a "
                 "sharded run");
  // sbatch refuses the job: the run stored for it is deleted again.
  expect_refused(
      WriteSuite("bad-partition", "small", "shards: 2, partition: nowhere"),
      "partition");
  EXPECT_EQ(ListedRuns(), runs_before);

  // A daemon whose PATH has no sbatch.
  daemon_->Signal(SIGTERM, /*wait=*/true);
  const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  setenv("PATH", "/nonexistent", 1);
  StartCoordinator();
  setenv("PATH", path.c_str(), 1);
  expect_refused(WriteSuite("no-sbatch", "small",
                            absl::StrCat("shards: 2, partition: ",
                                         g_cluster->partition())),
                 "sbatch not found on PATH");
  EXPECT_EQ(ListedRuns(), runs_before);

  // A daemon without TCP cannot coordinate workers that dial it.
  daemon_->Signal(SIGTERM, /*wait=*/true);
  StartDaemon({"--token-file", g_fixture->Join("token")});
  expect_refused(WriteSuite("no-tcp", "small",
                            absl::StrCat("shards: 2, partition: ",
                                         g_cluster->partition())),
                 "cluster.slurm: transport grpc needs");
  EXPECT_EQ(ListedRuns(), runs_before);

  // evald's own flags.
  for (const auto& [flags, text] :
       std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--listen-tcp", "127.0.0.1:0"}, "--token-file"},
           {{"--listen-tcp", "nowhere"}, "expected HOST:PORT"},
           {{"--cluster-poll", "soon"}, "--cluster-poll"}}) {
    std::vector<std::string> argv = {BinDir() + "/evald", "--data-dir",
                                     tmp_.Join("other")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    ProcessResult r = RunProcess(argv);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    std::string err(absl::StripTrailingAsciiWhitespace(r.err));
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
    EXPECT_THAT(err, HasSubstr(text));
  }
}

}  // namespace
}  // namespace evald::testing
