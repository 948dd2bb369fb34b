// File: tests/daemon/cluster/worker_e2e_test.cc
// `evald worker` as real processes on a tiny random-weight checkpoint: the
// files transport end to end without a coordinator (two shards computed by
// two worker processes equal, document for document, what a local evald run
// of the same suite stored, with and without a native judge), SIGTERM
// delivering what is done, a coordinator that answers late, and bad input
// (missing claim file, no --shard, an unknown run on a real daemon).
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "daemon/cluster/shard_files.h"
#include "daemon/cluster/shards.h"
#include "proto/service.grpc.pb.h"
#include "tests/daemon/evald_test_base.h"
#include "tests/daemon/process.h"
#include "tests/testing/fixtures.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

using ::evald::daemon::cluster::ListShardFiles;
using ::evald::daemon::cluster::ReadFinishFile;
using ::evald::daemon::cluster::ReadShardSamples;
using ::evald::daemon::cluster::ReadWorkerFile;
using ::evald::daemon::cluster::ShardRange;
using ::evald::daemon::cluster::WorkerFiles;
using ::evald::daemon::cluster::WriteClaimFile;
using ::testing::HasSubstr;
using ::testing::Not;

TempDir* g_fixture = nullptr;

void WriteDatasets(const std::string& root, int gsm_docs) {
  WriteGsm8kFixture(root + "/gsm8k", gsm_docs);
  WriteMmluFixture(root + "/mmlu", 12);
}

// The last non-empty line of `text`.
std::string LastLine(const std::string& text) {
  std::vector<std::string> lines =
      absl::StrSplit(text, '\n', absl::SkipEmpty());
  return lines.empty() ? "" : lines.back();
}

class WorkerTest : public EvaldTestBase {
 protected:
  static void SetUpTestSuite() {
    if (g_fixture != nullptr) return;
    g_fixture = new TempDir();
    ProcessResult made =
        RunProcess({BinDir() + "/evald-make-checkpoint", "--preset", "tiny",
                    "--seed", "1", "--out", g_fixture->Join("model")});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    WriteDatasets(g_fixture->Join("small"), 10);
    WriteDatasets(g_fixture->Join("long"), 1000);
    made = RunProcess({BinDir() + "/evald-make-checkpoint", "--preset", "tiny",
                       "--seed", "7", "--out", g_fixture->Join("judge")});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    std::string prompts;
    for (int i = 0; i < 5; ++i) {
      prompts +=
          absl::StrCat("{\"id\": \"Q-", i, "\", \"prompt\": \"Q-", i,
                       ": what is ", i, " plus two?\", \"reference\": \"",
                       i + 2, "\", \"category\": \"math\"}\n");
    }
    WriteTestFile(g_fixture->Join("prompts.jsonl"), prompts);
  }

  std::string WriteSuite(const std::string& name, const std::string& tasks) {
    const std::string path = tmp_.Join(name + ".yaml");
    WriteTestFile(path,
                  absl::StrCat("name: ", name, "\ncandidate:\n  model: ",
                               g_fixture->Join("model"), "\ntasks:\n", tasks));
    return path;
  }

  std::unique_ptr<v1::EvalService::Stub> Stub() {
    return v1::EvalService::NewStub(
        grpc::CreateChannel(addr_, grpc::InsecureChannelCredentials()));
  }

  v1::RunRecord GetRun(const std::string& run) {
    grpc::ClientContext context;
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
    v1::ListSamplesRequest request;
    request.set_run_id(run);
    request.set_task(task);
    v1::ListSamplesResponse response;
    grpc::Status s = Stub()->ListSamples(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {response.samples().begin(), response.samples().end()};
  }

  // What a worker computes but need not equal between machines or batches:
  // when and how long, what the prefix cache served, and who.
  static v1::SampleRecord Comparable(v1::SampleRecord s) {
    s.clear_finished_unix_ms();
    s.clear_wall_s();
    s.clear_cached_tokens();
    s.clear_worker();
    return s;
  }

  // Claim files for shards 0..shards-1 of `run`: every document of each
  // shard's range to do, except those in `skip` (task -> doc indices).
  void WriteClaims(const std::string& shared, const v1::RunRecord& run,
                   int shards,
                   const std::map<std::string, std::set<int64_t>>& skip = {}) {
    for (int i = 0; i < shards; ++i) {
      v1::ClaimShardResponse claim;
      *claim.mutable_spec() = run.spec();
      claim.set_attempt(run.attempt());
      claim.set_claim(1);
      for (const v1::TaskProgress& p : run.progress()) {
        const auto range = ShardRange(p.total(), shards, i);
        v1::ShardTask* t = claim.add_tasks();
        t->set_task(p.task());
        t->set_first_doc(range.first);
        t->set_end_doc(range.end);
        for (int64_t d = range.first; d < range.end; ++d) {
          auto it = skip.find(p.task());
          if (it != skip.end() && it->second.count(d) > 0) continue;
          t->add_todo(d);
        }
      }
      ASSERT_TRUE(WriteClaimFile(shared, run.id(), i, claim).ok());
    }
  }

  // Every sample the workers of `run_id` wrote under `shared`, by task and
  // document (a document delivered twice is a failure).
  std::map<std::string, std::map<int64_t, v1::SampleRecord>> WorkerSamples(
      const std::string& shared, const std::string& run_id) {
    std::map<std::string, std::map<int64_t, v1::SampleRecord>> out;
    auto listed = ListShardFiles(shared, run_id);
    EXPECT_TRUE(listed.ok()) << listed.status();
    if (!listed.ok()) return out;
    for (const WorkerFiles& files : *listed) {
      int64_t offset = 0;
      auto batches = ReadShardSamples(files.samples_path, &offset);
      EXPECT_TRUE(batches.ok()) << batches.status();
      if (!batches.ok()) continue;
      for (const v1::PutShardSamplesRequest& b : *batches) {
        for (const v1::SampleRecord& s : b.samples()) {
          EXPECT_TRUE(out[s.task()].emplace(s.doc_index(), s).second)
              << s.task() << " doc " << s.doc_index() << " delivered twice";
        }
      }
    }
    return out;
  }

  ProcessResult Worker(std::vector<std::string> args, int timeout_s = 600) {
    args.insert(args.begin(), {BinDir() + "/evald", "worker"});
    return RunProcess(args, {"SLURM_ARRAY_TASK_ID=", "SLURM_ARRAY_JOB_ID="},
                      timeout_s);
  }
};

TEST_F(WorkerTest, FilesTransportShardsEqualALocalRunDocumentForDocument) {
  StartDaemon();
  const std::string suite =
      WriteSuite("local", absl::StrCat("  - {name: mmlu, shots: 2, data: ",
                                       g_fixture->Join("small/mmlu"), "}\n",
                                       "  - {name: gsm8k, shots: 3, data: ",
                                       g_fixture->Join("small/gsm8k"), "}\n"));
  ProcessResult submitted = Ctl({"--json", "submit", suite, "--wait"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string run_id = Str(Json(submitted), {"run", "id"});
  ASSERT_FALSE(run_id.empty()) << submitted.out;
  const v1::RunRecord run = GetRun(run_id);
  ASSERT_EQ(run.state(), v1::SUCCEEDED);
  ASSERT_EQ(run.progress_size(), 2);

  // Shard 1 pretends gsm8k's first document of its range is stored already.
  const int64_t gsm_docs = run.progress(1).total();
  ASSERT_EQ(run.progress(1).task(), "gsm8k");
  const int64_t skipped = ShardRange(gsm_docs, 2, 1).first;
  const std::string shared = tmp_.Join("shared");
  WriteClaims(shared, run, 2, {{"gsm8k", {skipped}}});

  for (int shard = 0; shard < 2; ++shard) {
    ProcessResult r =
        Worker({"--run", run_id, "--shard", std::to_string(shard),
                "--shared-dir", shared, "--threads", "2", "--device", "cpu",
                "--data-dir", tmp_.Join(absl::StrCat("scratch-", shard))});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr(absl::StrCat("worker: run ", run_id, " shard ",
                                              shard, " on ")));
    EXPECT_THAT(r.err, HasSubstr("gsm8k "));
  }

  auto listed = ListShardFiles(shared, run_id);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  std::map<std::string, std::map<int64_t, v1::SampleRecord>> from_workers;
  for (const WorkerFiles& files : *listed) {
    ASSERT_TRUE(files.has_worker && files.has_samples && files.has_finish)
        << files.worker_id;
    auto worker = ReadWorkerFile(files.worker_path);
    ASSERT_TRUE(worker.ok()) << worker.status();
    EXPECT_EQ(worker->run_id(), run_id);
    EXPECT_EQ(worker->shard(), files.shard);
    EXPECT_FALSE(worker->node().empty());
    // The worker fingerprinted the same model and datasets.
    ASSERT_EQ(worker->fingerprint().models_size(), 1);
    EXPECT_EQ(worker->fingerprint().models(0).SerializeAsString(),
              run.fingerprint().models(0).SerializeAsString());
    EXPECT_EQ(worker->fingerprint().tasks_size(), 2);
    auto finish = ReadFinishFile(files.finish_path);
    ASSERT_TRUE(finish.ok()) << finish.status();
    EXPECT_EQ(finish->error(), "");
    EXPECT_EQ(finish->shard(), files.shard);
    EXPECT_THAT(finish->log_tail(), HasSubstr("done"));
    EXPECT_GT(finish->stats().prompt_tokens(), 0);
    int64_t offset = 0;
    auto batches = ReadShardSamples(files.samples_path, &offset);
    ASSERT_TRUE(batches.ok()) << batches.status();
    for (const v1::PutShardSamplesRequest& b : *batches) {
      EXPECT_EQ(b.run_id(), run_id);
      EXPECT_EQ(b.shard(), files.shard);
      EXPECT_LE(b.samples_size(), 32);
      for (const v1::SampleRecord& s : b.samples()) {
        EXPECT_THAT(s.worker(),
                    HasSubstr(absl::StrCat("shard ", files.shard, " on ")));
        const auto range =
            ShardRange(s.task() == "gsm8k" ? gsm_docs : run.progress(0).total(),
                       2, files.shard);
        EXPECT_GE(s.doc_index(), range.first);
        EXPECT_LT(s.doc_index(), range.end);
        EXPECT_TRUE(from_workers[s.task()].emplace(s.doc_index(), s).second)
            << s.task() << " doc " << s.doc_index() << " delivered twice";
      }
    }
  }

  for (const v1::TaskProgress& p : run.progress()) {
    const std::vector<v1::SampleRecord> local = Samples(run_id, p.task());
    ASSERT_EQ(static_cast<int64_t>(local.size()), p.total());
    const auto& mine = from_workers[p.task()];
    EXPECT_EQ(static_cast<int64_t>(mine.size()),
              p.task() == "gsm8k" ? p.total() - 1 : p.total());
    for (const v1::SampleRecord& want : local) {
      auto it = mine.find(want.doc_index());
      if (p.task() == "gsm8k" && want.doc_index() == skipped) {
        EXPECT_TRUE(it == mine.end()) << "a document not to do was computed";
        continue;
      }
      ASSERT_TRUE(it != mine.end())
          << p.task() << " doc " << want.doc_index() << " missing";
      std::string diff;
      google::protobuf::util::MessageDifferencer differencer;
      differencer.ReportDifferencesToString(&diff);
      EXPECT_TRUE(differencer.Compare(Comparable(want), Comparable(it->second)))
          << p.task() << " doc " << want.doc_index() << ": " << diff;
      EXPECT_FALSE(want.prompt().empty());
      EXPECT_GT(want.responses_size(), 0);
    }
  }
}

// Candidate and judge both resident in the worker: the judge's prompts,
// replies and verdicts equal the local run's.
TEST_F(WorkerTest, FilesTransportWithANativeJudgeEqualsALocalRun) {
  StartDaemon();
  const std::string suite = tmp_.Join("judged.yaml");
  WriteTestFile(suite,
                absl::StrCat("name: judged\ncandidate:\n  model: ",
                             g_fixture->Join("model"),
                             "\njudge:\n  model: ", g_fixture->Join("judge"),
                             "\ntasks:\n  - name: judged\n    data: ",
                             g_fixture->Join("prompts.jsonl"),
                             "\n    options: {max_new_tokens: 8, "
                             "judge_max_new_tokens: 8}\n"));
  ProcessResult submitted = Ctl({"--json", "submit", suite, "--wait"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string run_id = Str(Json(submitted), {"run", "id"});
  const v1::RunRecord run = GetRun(run_id);
  ASSERT_EQ(run.state(), v1::SUCCEEDED);
  const std::string shared = tmp_.Join("shared");
  WriteClaims(shared, run, 2);
  for (int shard = 0; shard < 2; ++shard) {
    ProcessResult r =
        Worker({"--run", run_id, "--shard", std::to_string(shard),
                "--shared-dir", shared, "--threads", "2", "--device", "cpu",
                "--data-dir", tmp_.Join(absl::StrCat("scratch-", shard))});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  auto mine = WorkerSamples(shared, run_id)["judged"];
  const std::vector<v1::SampleRecord> local = Samples(run_id, "judged");
  ASSERT_EQ(local.size(), 5u);
  ASSERT_EQ(mine.size(), 5u);
  for (const v1::SampleRecord& want : local) {
    ASSERT_EQ(mine.count(want.doc_index()), 1u);
    ASSERT_GT(want.judge_size(), 0);
    std::string diff;
    google::protobuf::util::MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differencer.Compare(Comparable(want),
                                    Comparable(mine[want.doc_index()])))
        << "doc " << want.doc_index() << ": " << diff;
  }
}

TEST_F(WorkerTest, SigtermDeliversWhatIsDoneAndReportsTheStop) {
  // A long GSM8K shard (no daemon: the claim file is all a worker reads).
  v1::RunRecord run;
  run.set_id("r-sigterm");
  run.set_attempt(1);
  run.mutable_spec()->set_name("long");
  run.mutable_spec()->mutable_candidate()->set_path(g_fixture->Join("model"));
  v1::TaskSpec* task = run.mutable_spec()->add_tasks();
  task->set_name("gsm8k");
  task->set_shots(3);
  task->set_data_path(g_fixture->Join("long/gsm8k"));
  v1::TaskProgress* p = run.add_progress();
  p->set_task("gsm8k");
  p->set_total(1000);
  const std::string run_id = run.id();
  const std::string shared = tmp_.Join("shared");
  WriteClaims(shared, run, 1);

  const std::string log = tmp_.Join("worker.log");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    FILE* f = freopen(log.c_str(), "w", stderr);
    (void)f;
    const std::string evald = BinDir() + "/evald";
    execl(evald.c_str(), evald.c_str(), "worker", "--run", run_id.c_str(),
          "--shard", "0", "--shared-dir", shared.c_str(), "--threads", "2",
          "--device", "cpu", "--max-seqs", "4", "--data-dir",
          tmp_.Join("scratch").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until some samples are on disk, then stop it.
  auto samples_on_disk = [&] {
    auto listed = ListShardFiles(shared, run_id);
    if (!listed.ok() || listed->empty() || !(*listed)[0].has_samples)
      return int64_t{0};
    int64_t offset = 0, n = 0;
    auto batches = ReadShardSamples((*listed)[0].samples_path, &offset);
    if (!batches.ok()) return int64_t{0};
    for (const auto& b : *batches) n += b.samples_size();
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return samples_on_disk() > 0; }, 300))
      << *base::ReadFileToString(log);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  const double stop_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  const std::string err = *base::ReadFileToString(log);
  ASSERT_TRUE(WIFEXITED(status)) << err;
  EXPECT_EQ(WEXITSTATUS(status), 1) << err;
  EXPECT_LT(stop_s, 30) << "SIGTERM should stop the worker promptly";
  EXPECT_THAT(err, HasSubstr("SIGTERM"));

  auto listed = ListShardFiles(shared, run_id);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  ASSERT_TRUE((*listed)[0].has_finish) << err;
  auto finish = ReadFinishFile((*listed)[0].finish_path);
  ASSERT_TRUE(finish.ok());
  EXPECT_THAT(finish->error(), HasSubstr("SIGTERM"));
  EXPECT_THAT(finish->log_tail(), HasSubstr("SIGTERM"));
  const int64_t delivered = samples_on_disk();
  EXPECT_GT(delivered, 0);
  EXPECT_LT(delivered, 1000);
  EXPECT_THAT(err, HasSubstr(absl::StrCat("after delivering ", delivered,
                                          " of 1000 samples")));
}

TEST_F(WorkerTest, BadInputIsOneClearLineAndANonZeroExit) {
  // No --shard outside Slurm.
  ProcessResult no_shard =
      Worker({"--run", "r1", "--shared-dir", tmp_.Join("shared")});
  EXPECT_EQ(no_shard.exit_code, 2);
  EXPECT_EQ(no_shard.err,
            "evald worker: --shard is required outside a Slurm job array "
            "($SLURM_ARRAY_TASK_ID is not set)\n");

  // Both transports, or neither.
  ProcessResult neither = Worker({"--run", "r1", "--shard", "0"});
  EXPECT_EQ(neither.exit_code, 2);
  EXPECT_THAT(neither.err, HasSubstr("--coordinator"));

  // The claim file is missing: the path is named.
  ProcessResult no_claim =
      Worker({"--run", "r1", "--shard", "3", "--shared-dir",
              tmp_.Join("shared"), "--data-dir", tmp_.Join("scratch")});
  EXPECT_EQ(no_claim.exit_code, 1);
  EXPECT_EQ(LastLine(no_claim.err),
            absl::StrCat("evald worker: claim file ", tmp_.Join("shared"),
                         "/r1/shard-3.claim does not exist (the coordinator "
                         "writes it before it submits the shard; check "
                         "--shared-dir, --run and --shard)"));

  // An unknown run on a real daemon: GetRun's NotFound, one line.
  StartDaemon();
  ProcessResult unknown =
      Worker({"--run", "no-such-run", "--shard", "0", "--coordinator", addr_,
              "--data-dir", tmp_.Join("scratch")});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(LastLine(unknown.err),
              HasSubstr("evald worker: GetRun (run no-such-run) at "
                        "coordinator " +
                        addr_ + ": "));
  EXPECT_THAT(LastLine(unknown.err), HasSubstr("no-such-run"));

  // TCP without a token.
  ProcessResult tcp =
      Worker({"--run", "r1", "--shard", "0", "--coordinator", "127.0.0.1:1"});
  EXPECT_EQ(tcp.exit_code, 2);
  EXPECT_THAT(tcp.err, HasSubstr("--token-file"));
}

TEST_F(WorkerTest, AnUnreachableCoordinatorIsRetriedUntilItAnswers) {
  // Nothing listens yet: the worker retries (logging it) and, once the
  // daemon is up, gets its answer (here: no such run).
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    StartDaemon();
  });
  ProcessResult r =
      Worker({"--run", "no-such-run", "--shard", "0", "--coordinator", addr_,
              "--data-dir", tmp_.Join("scratch")});
  late.join();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("unavailable"));
  EXPECT_THAT(r.err, HasSubstr("retrying in"));
  EXPECT_THAT(LastLine(r.err),
              HasSubstr("GetRun (run no-such-run) at coordinator " + addr_));
  EXPECT_THAT(LastLine(r.err), Not(HasSubstr("unavailable")));

  // With a short --retry-for it gives up, naming the coordinator.
  ProcessResult gone = Worker({"--run", "r1", "--shard", "0", "--coordinator",
                               "unix:" + tmp_.Join("none.sock"), "--retry-for",
                               "1", "--data-dir", tmp_.Join("scratch")});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_THAT(LastLine(gone.err),
              HasSubstr("evald worker: GetRun (run r1) at coordinator unix:" +
                        tmp_.Join("none.sock")));
}

}  // namespace
}  // namespace evald::testing
