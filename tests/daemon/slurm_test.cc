// File: tests/daemon/slurm_test.cc
// -----------------------------------------------------------------------------
// daemon/cluster/slurm against a real single-node Slurm cluster
// (tests/testing/slurm_cluster): job arrays whose "evald" is a shell script
// that records how it was started, their states through scontrol, scancel,
// requeue, sbatch's refusals; plus the pure parts (array expressions,
// scontrol records, the batch script run by bash).
#include "daemon/cluster/slurm.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/subprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/slurm_cluster.h"
#include "tests/testing/temp_dir.h"

namespace evald::daemon::cluster {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Stands in for evald on the node: records its arguments and the array
// index, then works for $EVALD_FAKE_SLEEP seconds.
constexpr char kFakeEvald[] = R"(#!/bin/bash
set -eu
jobs="$(dirname "$0")/../jobs"
mkdir -p "$jobs"
i="${SLURM_ARRAY_TASK_ID:-none}"
echo "fake evald on $(hostname), shard $i"
printf '%s\n' "$@" > "$jobs/args-$i"
echo "restarts=${SLURM_RESTART_COUNT:-0}" >> "$jobs/runs-$i"
sleep "${EVALD_FAKE_SLEEP:-2}"
)";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Msg(const absl::Status& status) {
  return std::string(status.message());
}

int Mode(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777)
                                        : -1;
}

std::string Describe(const std::vector<SlurmTask>& tasks) {
  std::string out;
  for (const SlurmTask& t : tasks) {
    absl::StrAppend(&out, t.job_id, "[", t.index, "] ", t.state, " (", t.reason,
                    ") node=", t.node, " exit=", t.exit_code,
                    " restarts=", t.restarts, "; ");
  }
  return out;
}

const SlurmTask* ByIndex(const std::vector<SlurmTask>& tasks, int32_t index) {
  for (const SlurmTask& t : tasks) {
    if (t.index == index) return &t;
  }
  return nullptr;
}

// ---- Pure parts ------------------------------------------------------------

TEST(SlurmArrayExpressionTest, CompressesRuns) {
  EXPECT_EQ(ArrayExpression({1, 3, 5, 6, 7}), "1,3,5-7");
  EXPECT_EQ(ArrayExpression({0, 1, 2, 3}), "0-3");
  EXPECT_EQ(ArrayExpression({4}), "4");
  EXPECT_EQ(ArrayExpression({0, 2, 4}), "0,2,4");
  EXPECT_EQ(ArrayExpression({0, 1, 3, 4, 9}), "0-1,3-4,9");
  EXPECT_EQ(ArrayExpression({}), "");
  EXPECT_EQ(ArrayExpression({7, 5, 6, 5, 1}), "1,5-7");  // sorted, distinct
}

TEST(SlurmStateTest, FinalStates) {
  for (const char* s :
       {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
        "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}) {
    EXPECT_TRUE(IsFinalState(s)) << s;
  }
  for (const char* s : {"PENDING", "RUNNING", "COMPLETING", "REQUEUED",
                        "SUSPENDED", "CONFIGURING", "", "COMPLETE"}) {
    EXPECT_FALSE(IsFinalState(s)) << s;
  }
}

TEST(SlurmParseTest, CompressedPendingRecordsAreExpanded) {
  // As scontrol show job -o prints them (fields trimmed).
  const std::string out =
      "JobId=7 ArrayJobId=7 ArrayTaskId=0-3%2 ArrayTaskThrottle=2 "
      "JobName=evald-r JobState=PENDING Reason=JobArrayTaskLimit "
      "Restarts=0 ExitCode=0:0 NodeList= "
      "StdOut=/logs/slurm-7_4294967294.out Power=\n"
      "JobId=9 ArrayJobId=8 ArrayTaskId=1,3 JobState=PENDING Reason=Priority "
      "ExitCode=0:0 StdOut=/l/o\n"
      "JobId=10 ArrayJobId=10 ArrayTaskId=0-15:5 JobState=PENDING "
      "Reason=None\n";
  absl::StatusOr<std::vector<SlurmTask>> tasks = ParseJobRecords(out);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  std::vector<std::string> ids;
  for (const SlurmTask& t : *tasks) ids.push_back(t.job_id);
  // By index (one array per Query in use; stable within an index).
  EXPECT_THAT(ids, ElementsAre("7_0", "10_0", "7_1", "8_1", "7_2", "7_3", "8_3",
                               "10_5", "10_10", "10_15"));
  const SlurmTask& t = (*tasks)[2];
  EXPECT_EQ(t.index, 1);
  EXPECT_EQ(t.state, "PENDING");
  EXPECT_EQ(t.reason, "JobArrayTaskLimit");
  EXPECT_EQ(t.node, "");
  EXPECT_EQ(t.std_out, "/logs/slurm-7_1.out");
}

TEST(SlurmParseTest, SplitElementsAndValuesWithBlanks) {
  const std::string out =
      "JobId=12 ArrayJobId=11 ArrayTaskId=2 JobName=evald run x "
      "UserId=root(0) JobState=RUNNING Reason=ReqNodeNotAvail, "
      "UnavailableNodes:n1 Restarts=2 ExitCode=0:15 "
      "AllocNode:Sid=localhost:1 NodeList=n7 BatchHost=n7 "
      "StdOut=/logs/my dir/slurm-11_2.out Power=\n";
  absl::StatusOr<std::vector<SlurmTask>> tasks = ParseJobRecords(out);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 1u);
  const SlurmTask& t = tasks->front();
  EXPECT_EQ(t.index, 2);
  EXPECT_EQ(t.job_id, "11_2");
  EXPECT_EQ(t.state, "RUNNING");
  EXPECT_EQ(t.reason, "ReqNodeNotAvail, UnavailableNodes:n1");
  EXPECT_EQ(t.node, "n7");
  EXPECT_EQ(t.exit_code, "0:15");
  EXPECT_EQ(t.restarts, 2);
  EXPECT_EQ(t.std_out, "/logs/my dir/slurm-11_2.out");
}

TEST(SlurmParseTest, UnreadableRecordsAreErrors) {
  EXPECT_FALSE(ParseJobRecords("ArrayJobId=1 JobState=RUNNING\n").ok());
  EXPECT_FALSE(
      ParseJobRecords("JobId=1 ArrayJobId=1 ArrayTaskId=3-1 JobState=X\n")
          .ok());
  EXPECT_FALSE(
      ParseJobRecords("JobId=1 ArrayJobId=1 ArrayTaskId=a JobState=X\n").ok());
  absl::StatusOr<std::vector<SlurmTask>> empty = ParseJobRecords("\n\n");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(SlurmScriptTest, BashRunsTheWorkerWithEveryValueIntact) {
  testing::TempDir dir;
  // Paths a shell would split or expand, if quoted wrongly.
  const std::string bin = dir.Join("my tools/it's $HOME");
  testing::WriteTestFile(bin, "#!/bin/sh\nprintf '%s\\n' \"$@\"\n");
  ASSERT_EQ(chmod(bin.c_str(), 0755), 0);
  v1::SlurmSpec spec;
  spec.set_shards(4);
  spec.set_partition("gpu a");
  spec.set_gres("gpu:1");
  spec.set_account("lab\"x");
  WorkerJob job;
  job.run_id = "run-1";
  job.job_name = "evald-run-1";
  job.evald = bin;
  job.coordinator = "login1:7070";
  job.token_file = dir.Join("tok'en `id`");
  job.log_dir = "/var/log/evald";
  const std::string script = RenderBatchScript(spec, job);
  EXPECT_THAT(script, StartsWith("#!/bin/bash\n#SBATCH --job-name=evald-run-1\n"
                                 "#SBATCH --output=/var/log/evald/"
                                 "slurm-%A_%a.out\n#SBATCH --requeue\n"
                                 "#SBATCH --open-mode=append\n"
                                 "#SBATCH --partition=\"gpu a\"\n"
                                 "#SBATCH --gres=gpu:1\n"
                                 "#SBATCH --account=\"lab\\\"x\"\n"));
  EXPECT_THAT(script, Not(HasSubstr("--time")));
  EXPECT_THAT(script, Not(HasSubstr("--qos")));
  EXPECT_THAT(script, HasSubstr("# evald run run-1"));
  EXPECT_THAT(script, HasSubstr("set -euo pipefail\n"));

  testing::WriteTestFile(dir.Join("job.sbatch"), script);
  base::SubprocessOptions options;
  options.env = {"SLURM_ARRAY_TASK_ID=3"};
  absl::StatusOr<base::SubprocessResult> r =
      base::RunSubprocess({"/bin/bash", dir.Join("job.sbatch")}, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->out, absl::StrCat("worker\n--run\nrun-1\n--shard\n3\n"
                                 "--coordinator\nlogin1:7070\n--token-file\n",
                                 job.token_file, "\n"));

  spec.set_transport("files");
  spec.set_shared_dir("/shared/evald runs");
  r = base::RunSubprocess({"/bin/bash", "-c", RenderBatchScript(spec, job)},
                          options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out,
            "worker\n--run\nrun-1\n--shard\n3\n--shared-dir\n/shared/evald "
            "runs\n");
}

TEST(SlurmSubmitTest, SbatchMissingFromPathIsNotFound) {
  testing::TempDir dir;
  v1::SlurmSpec spec;
  spec.set_shards(2);
  WorkerJob job;
  job.run_id = "r1";
  job.evald = "/usr/bin/evald";
  job.coordinator = "h:1";
  job.token_file = "/t";
  job.log_dir = dir.Join("logs");
  SlurmCommands named;
  named.sbatch = "evald-no-such-sbatch";
  absl::StatusOr<std::string> r = Slurm(named).SubmitArray(spec, job, {0, 1});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(r.status()),
              StartsWith("evald-no-such-sbatch not found on PATH ("));

  SlurmCommands no_path;
  no_path.env = {"PATH=" + dir.Join("empty")};
  r = Slurm(no_path).SubmitArray(spec, job, {0, 1});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(),
            absl::StrCat("sbatch not found on PATH (", dir.Join("empty"), ")"));
}

TEST(SlurmSubmitTest, IncompleteJobsAreRefusedBeforeSbatch) {
  testing::TempDir dir;
  v1::SlurmSpec spec;
  spec.set_shards(2);
  WorkerJob job;
  job.run_id = "r1";
  job.evald = "/usr/bin/evald";
  job.coordinator = "h:1";
  job.token_file = "/t";
  job.log_dir = dir.Join("logs");
  SlurmCommands commands;
  commands.sbatch = "/nonexistent/sbatch";  // never reached
  Slurm slurm(commands);
  EXPECT_EQ(slurm.SubmitArray(spec, job, {}).status().message(),
            "sbatch: no array indices to submit");
  WorkerJob no_token = job;
  no_token.token_file.clear();
  EXPECT_THAT(Msg(slurm.SubmitArray(spec, no_token, {0}).status()),
              HasSubstr("token file"));
  v1::SlurmSpec files = spec;
  files.set_transport("files");
  EXPECT_THAT(Msg(slurm.SubmitArray(files, job, {0}).status()),
              HasSubstr("cluster.slurm.shared_dir"));
  v1::SlurmSpec odd = spec;
  odd.set_transport("carrier-pigeon");
  EXPECT_THAT(Msg(slurm.SubmitArray(odd, job, {0}).status()),
              HasSubstr("unknown transport 'carrier-pigeon'"));
  v1::SlurmSpec newline = spec;
  newline.set_partition("debug\n#SBATCH --uid=0");
  EXPECT_EQ(slurm.SubmitArray(newline, job, {0}).status().message(),
            "cluster.slurm.partition: contains a control character");
  EXPECT_EQ(Mode(dir.Join("logs")), -1);  // nothing written
  EXPECT_EQ(slurm.Query("12; rm -rf /").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(slurm.Cancel("--me").code(), absl::StatusCode::kInvalidArgument);
}

// ---- Against the real cluster ----------------------------------------------

class SlurmClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<testing::SlurmCluster>> cluster =
        testing::SlurmCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status().message();
    cluster_ = std::move(*cluster);
    RecordProperty("slurm_cluster_start_s",
                   absl::StrFormat("%.2f", cluster_->start_seconds()));
    std::cerr << absl::StrFormat("[ slurm    ] cluster start %.2f s\n",
                                 cluster_->start_seconds());
    fake_evald_ = cluster_->dir() + "/bin/evald";
    testing::WriteTestFile(fake_evald_, kFakeEvald);
    ASSERT_EQ(chmod(fake_evald_.c_str(), 0755), 0);
    token_file_ = cluster_->dir() + "/token";
    testing::WriteTestFile(token_file_, "s3cret-token-value\n");
    jobs_ = cluster_->dir() + "/jobs";
  }

  void TearDown() override {
    // EVALD_SLURM_LOGS=1 shows them after a passing test too.
    if ((HasFailure() || std::getenv("EVALD_SLURM_LOGS") != nullptr) &&
        cluster_ != nullptr) {
      std::cerr << "---- Slurm test cluster logs\n" << cluster_->LogTail();
    }
  }

  Slurm MakeSlurm(int fake_sleep_s) const {
    SlurmCommands commands;
    commands.env = cluster_->env();
    // sbatch exports the submitter's environment to the job.
    commands.env.push_back(absl::StrCat("EVALD_FAKE_SLEEP=", fake_sleep_s));
    return Slurm(commands);
  }

  v1::SlurmSpec Spec(int shards) const {
    v1::SlurmSpec spec;
    spec.set_shards(shards);
    spec.set_partition(cluster_->partition());
    spec.set_time("00:10:00");
    return spec;
  }

  WorkerJob Job(const std::string& run_id) const {
    WorkerJob job;
    job.run_id = run_id;
    job.job_name = "evald " + run_id;  // a blank: quoted for sbatch
    job.evald = fake_evald_;
    job.coordinator = "127.0.0.1:4567";
    job.token_file = token_file_;
    job.log_dir = cluster_->dir() + "/logs/" + run_id;
    return job;
  }

  // Queries until `done` holds (every 100 ms, at most `timeout_s`).
  std::vector<SlurmTask> WaitFor(
      const Slurm& slurm, const std::string& id,
      const std::function<bool(const std::vector<SlurmTask>&)>& done,
      const std::string& what, int timeout_s = 60) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    std::vector<SlurmTask> last;
    while (std::chrono::steady_clock::now() < deadline) {
      absl::StatusOr<std::vector<SlurmTask>> tasks = slurm.Query(id);
      EXPECT_TRUE(tasks.ok()) << tasks.status();
      if (!tasks.ok()) return {};
      last = *tasks;
      if (done(last)) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "timed out waiting for " << what << "; last "
                  << Describe(last);
    return last;
  }

  static bool All(const std::vector<SlurmTask>& tasks, size_t n,
                  const std::function<bool(const SlurmTask&)>& pred) {
    if (tasks.size() != n) return false;
    for (const SlurmTask& t : tasks) {
      if (!pred(t)) return false;
    }
    return true;
  }

  std::unique_ptr<testing::SlurmCluster> cluster_;
  std::string fake_evald_;
  std::string token_file_;
  std::string jobs_;
};

TEST_F(SlurmClusterTest, ArrayRunsEveryShardAndReportsNodeAndExitCode) {
  Slurm slurm = MakeSlurm(3);
  WorkerJob job = Job("run-abc");
  job.log_dir += " at 100%";  // a blank and a % reach Slurm intact
  absl::StatusOr<std::string> id = slurm.SubmitArray(Spec(3), job, {0, 1, 2});
  ASSERT_TRUE(id.ok()) << id.status();

  // The script sbatch got: kept beside the logs, private, no token.
  const std::string script_path = job.log_dir + "/run-abc.sbatch";
  const std::string script = Slurp(script_path);
  EXPECT_EQ(Mode(job.log_dir), 0700);
  EXPECT_EQ(Mode(script_path), 0600);
  EXPECT_THAT(script, HasSubstr("#SBATCH --job-name=\"evald run-abc\"\n"));
  EXPECT_THAT(script, HasSubstr("#SBATCH --output=\"" + cluster_->dir() +
                                "/logs/run-abc at 100%%/slurm-%A_%a.out\"\n"));
  EXPECT_THAT(script, HasSubstr("#SBATCH --requeue\n"));
  EXPECT_THAT(script, HasSubstr("#SBATCH --partition=debug\n"));
  EXPECT_THAT(script, HasSubstr("#SBATCH --time=00:10:00\n"));
  EXPECT_THAT(script, Not(HasSubstr("--gres")));
  EXPECT_THAT(script, Not(HasSubstr("s3cret")));
  EXPECT_THAT(script, HasSubstr("--token-file '" + token_file_ + "'"));

  std::vector<SlurmTask> running = WaitFor(
      slurm, *id,
      [](const std::vector<SlurmTask>& tasks) {
        for (const SlurmTask& t : tasks) {
          if (t.state == "RUNNING" && !t.node.empty()) return true;
        }
        return false;
      },
      "an element RUNNING");
  for (const SlurmTask& t : running) {
    if (t.state == "RUNNING") {
      EXPECT_EQ(t.node, cluster_->node());
    }
  }

  std::vector<SlurmTask> done = WaitFor(
      slurm, *id,
      [](const std::vector<SlurmTask>& tasks) {
        return All(tasks, 3,
                   [](const SlurmTask& t) { return IsFinalState(t.state); });
      },
      "all three elements final");
  ASSERT_EQ(done.size(), 3u) << Describe(done);
  for (int32_t i = 0; i < 3; ++i) {
    const SlurmTask& t = done[static_cast<size_t>(i)];
    EXPECT_EQ(t.index, i);
    EXPECT_EQ(t.job_id, absl::StrCat(*id, "_", i));
    EXPECT_EQ(t.state, "COMPLETED") << Describe(done);
    EXPECT_EQ(t.exit_code, "0:0");
    EXPECT_EQ(t.node, cluster_->node());
    EXPECT_EQ(t.restarts, 0);
    EXPECT_EQ(t.std_out,
              absl::StrCat(job.log_dir, "/slurm-", *id, "_", i, ".out"));
    EXPECT_THAT(Slurp(t.std_out),
                HasSubstr(absl::StrCat("fake evald on ", cluster_->node(),
                                       ", shard ", i)));
    EXPECT_EQ(Slurp(absl::StrCat(jobs_, "/args-", i)),
              absl::StrCat("worker\n--run\nrun-abc\n--shard\n", i,
                           "\n--coordinator\n127.0.0.1:4567\n--token-file\n",
                           token_file_, "\n"));
    EXPECT_EQ(Slurp(absl::StrCat(jobs_, "/runs-", i)), "restarts=0\n");
  }
  // sbatch read the quoted job name as one value.
  base::SubprocessOptions options;
  options.env = cluster_->env();
  absl::StatusOr<base::SubprocessResult> show = base::RunSubprocess(
      {"scontrol", "show", "job", "-o", *id + "_0"}, options);
  ASSERT_TRUE(show.ok()) << show.status();
  EXPECT_THAT(show->out, HasSubstr(" JobName=evald run-abc "));
}

TEST_F(SlurmClusterTest, CancelOneElementThenTheArray) {
  Slurm slurm = MakeSlurm(120);
  absl::StatusOr<std::string> id =
      slurm.SubmitArray(Spec(3), Job("run-cancel"), {0, 1, 2});
  ASSERT_TRUE(id.ok()) << id.status();
  WaitFor(
      slurm, *id,
      [](const std::vector<SlurmTask>& tasks) {
        return All(tasks, 3,
                   [](const SlurmTask& t) { return t.state == "RUNNING"; });
      },
      "all three RUNNING");

  ASSERT_TRUE(slurm.Cancel(*id + "_1").ok());
  std::vector<SlurmTask> tasks = WaitFor(
      slurm, *id,
      [](const std::vector<SlurmTask>& tasks) {
        const SlurmTask* t = ByIndex(tasks, 1);
        return t != nullptr && t->state == "CANCELLED";
      },
      "element 1 CANCELLED");
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_TRUE(IsFinalState(tasks[1].state));
  EXPECT_EQ(tasks[0].state, "RUNNING") << Describe(tasks);
  EXPECT_EQ(tasks[2].state, "RUNNING") << Describe(tasks);

  ASSERT_TRUE(slurm.Cancel(*id).ok());
  WaitFor(
      slurm, *id,
      [](const std::vector<SlurmTask>& tasks) {
        return All(tasks, 3,
                   [](const SlurmTask& t) { return t.state == "CANCELLED"; });
      },
      "all CANCELLED");
}

TEST_F(SlurmClusterTest, RequeuedElementRunsAgain) {
  Slurm slurm = MakeSlurm(3);
  absl::StatusOr<std::string> id =
      slurm.SubmitArray(Spec(2), Job("run-requeue"), {0, 5});
  ASSERT_TRUE(id.ok()) << id.status();
  WaitFor(
      slurm, *id,
      [](const std::vector<SlurmTask>& tasks) {
        const SlurmTask* t = ByIndex(tasks, 5);
        return t != nullptr && t->state == "RUNNING";
      },
      "element 5 RUNNING");
  // Requeued once the worker has started (and said so in its log).
  for (int i = 0; i < 300 && Slurp(jobs_ + "/runs-5").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(Slurp(jobs_ + "/runs-5"), "restarts=0\n");
  absl::Status requeued = cluster_->Requeue(*id + "_5");
  ASSERT_TRUE(requeued.ok()) << requeued;
  std::vector<SlurmTask> done = WaitFor(
      slurm, *id,
      [](const std::vector<SlurmTask>& tasks) {
        return All(tasks, 2,
                   [](const SlurmTask& t) { return t.state == "COMPLETED"; }) &&
               ByIndex(tasks, 5)->restarts == 1;
      },
      "both COMPLETED, element 5 once restarted");
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(ByIndex(done, 0)->restarts, 0);
  EXPECT_EQ(Slurp(jobs_ + "/runs-0"), "restarts=0\n");
  EXPECT_EQ(Slurp(jobs_ + "/runs-5"), "restarts=0\nrestarts=1\n");
  // Both attempts' output, the requeue notice between them.
  const std::string log = Slurp(ByIndex(done, 5)->std_out);
  EXPECT_THAT(log, HasSubstr("DUE TO JOB REQUEUE"));
  EXPECT_EQ(
      std::vector<std::string>(absl::StrSplit(log, "fake evald on")).size(), 3u)
      << log;
}

// What an operator does by hand: scancel an element, then requeue it.
TEST_F(SlurmClusterTest, CancelledElementRequeuedRunsAgain) {
  Slurm slurm = MakeSlurm(2);
  absl::StatusOr<std::string> id =
      slurm.SubmitArray(Spec(1), Job("run-cancel-requeue"), {0});
  ASSERT_TRUE(id.ok()) << id.status();
  for (int i = 0; i < 1500 && Slurp(jobs_ + "/runs-0").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(Slurp(jobs_ + "/runs-0"), "restarts=0\n");
  ASSERT_TRUE(slurm.Cancel(*id + "_0").ok());
  absl::Status requeued = cluster_->Requeue(*id + "_0");  // at once
  ASSERT_TRUE(requeued.ok()) << requeued;
  std::vector<SlurmTask> done = WaitFor(
      slurm, *id,
      [](const std::vector<SlurmTask>& tasks) {
        return tasks.size() == 1 && tasks[0].state == "COMPLETED";
      },
      "element 0 COMPLETED after the requeue");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].restarts, 1);
  EXPECT_EQ(Slurp(jobs_ + "/runs-0"), "restarts=0\nrestarts=1\n");
}

TEST_F(SlurmClusterTest, PendingArrayIsExpandedPerIndex) {
  Slurm slurm = MakeSlurm(1);
  v1::SlurmSpec spec = Spec(8);
  spec.add_extra_args("--hold");  // stays pending, one compressed record
  WorkerJob job = Job("run-held");
  absl::StatusOr<std::string> id =
      slurm.SubmitArray(spec, job, {1, 3, 5, 6, 7});
  ASSERT_TRUE(id.ok()) << id.status();
  absl::StatusOr<std::vector<SlurmTask>> tasks = slurm.Query(*id);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  std::vector<int32_t> indices;
  for (const SlurmTask& t : *tasks) {
    indices.push_back(t.index);
    EXPECT_EQ(t.job_id, absl::StrCat(*id, "_", t.index));
    EXPECT_EQ(t.state, "PENDING");
    EXPECT_EQ(t.reason, "JobHeldUser");
    EXPECT_EQ(t.node, "");
    EXPECT_EQ(t.std_out,
              absl::StrCat(job.log_dir, "/slurm-", *id, "_", t.index, ".out"));
  }
  EXPECT_THAT(indices, ElementsAre(1, 3, 5, 6, 7));
  ASSERT_TRUE(slurm.Cancel(*id).ok());
  WaitFor(
      slurm, *id,
      [](const std::vector<SlurmTask>& tasks) {
        return All(tasks, 5,
                   [](const SlurmTask& t) { return t.state == "CANCELLED"; });
      },
      "all CANCELLED");
}

TEST_F(SlurmClusterTest, BadPartitionIsSbatchsOneLineError) {
  Slurm slurm = MakeSlurm(1);
  v1::SlurmSpec spec = Spec(2);
  spec.set_partition("no-such-partition");
  absl::StatusOr<std::string> id =
      slurm.SubmitArray(spec, Job("run-bad"), {0, 1});
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(id.status()),
              StartsWith("sbatch: error: invalid partition specified: "
                         "no-such-partition"));
  EXPECT_THAT(Msg(id.status()), Not(HasSubstr("\n")));
}

TEST_F(SlurmClusterTest, ForgottenJobIsAnEmptyList) {
  Slurm slurm = MakeSlurm(1);
  absl::StatusOr<std::vector<SlurmTask>> tasks = slurm.Query("3999999");
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  EXPECT_TRUE(tasks->empty());
  absl::Status cancel = slurm.Cancel("3999999");
  EXPECT_TRUE(cancel.ok()) << cancel;
}

TEST_F(SlurmClusterTest, SbatchMissingFromPathIsNotFound) {
  SlurmCommands commands;
  commands.env = cluster_->env();
  commands.sbatch = "evald-no-such-sbatch";
  absl::StatusOr<std::string> id =
      Slurm(commands).SubmitArray(Spec(1), Job("run-nosbatch"), {0});
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(id.status()),
              StartsWith("evald-no-such-sbatch not found on PATH ("));
}

// Two clusters in one process, as two test binaries under ctest -j2 have
// them: separate dirs, ports and munge sockets; each runs its own jobs.
TEST(SlurmTestClusterTest, TwoClustersRunSideBySide) {
  absl::StatusOr<std::unique_ptr<testing::SlurmCluster>> a =
      testing::SlurmCluster::Start();
  ASSERT_TRUE(a.ok()) << a.status().message();
  absl::StatusOr<std::unique_ptr<testing::SlurmCluster>> b =
      testing::SlurmCluster::Start();
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_NE((*a)->conf_path(), (*b)->conf_path());
  EXPECT_NE((*a)->cluster_name(), (*b)->cluster_name());
  const std::string conf_a = Slurp((*a)->conf_path());
  const std::string conf_b = Slurp((*b)->conf_path());
  for (const char* key : {"SlurmctldPort=", "SlurmdPort=", "AuthInfo="}) {
    const auto value = [&](const std::string& conf) {
      const size_t at = conf.find(key);
      return at == std::string::npos
                 ? std::string()
                 : conf.substr(at, conf.find('\n', at) - at);
    };
    EXPECT_NE(value(conf_a), "") << key;
    EXPECT_NE(value(conf_a), value(conf_b)) << key;
  }
  std::vector<std::string> ids;
  for (const auto* cluster : {&*a, &*b}) {
    base::SubprocessOptions options;
    options.env = (*cluster)->env();
    absl::StatusOr<base::SubprocessResult> r =
        base::RunSubprocess({"sbatch", "--parsable", "--array=0-1", "-o",
                             "/dev/null", "--wrap", "sleep 1"},
                            options);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->exit_code, 0) << r->err;
    ids.push_back(std::string(absl::StripAsciiWhitespace(r->out)));
  }
  for (size_t i = 0; i < 2; ++i) {
    SlurmCommands commands;
    commands.env = (i == 0 ? *a : *b)->env();
    Slurm slurm(commands);
    std::vector<SlurmTask> tasks;
    for (int tries = 0; tries < 300; ++tries) {
      absl::StatusOr<std::vector<SlurmTask>> q = slurm.Query(ids[i]);
      ASSERT_TRUE(q.ok()) << q.status();
      tasks = *q;
      if (tasks.size() == 2 && tasks[0].state == "COMPLETED" &&
          tasks[1].state == "COMPLETED") {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(tasks.size(), 2u) << Describe(tasks);
    for (const SlurmTask& t : tasks) {
      EXPECT_EQ(t.state, "COMPLETED") << Describe(tasks);
    }
  }
}

}  // namespace
}  // namespace evald::daemon::cluster
