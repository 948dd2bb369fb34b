// File: tests/daemon/plan_slurm_test.cc
// -----------------------------------------------------------------------------
// `evalctl plan SUITE --slurm`, run as a user runs it (the real binary, no
// daemon): the batch script of a sharded suite with its #SBATCH lines, the
// worker command and no token; the placeholders for what only the daemon
// knows; each task's documents per shard; a suite without cluster: refused
// in one line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/json.h"
#include "tests/daemon/process.h"
#include "tests/testing/fixtures.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kToken[] = "plan-slurm-secret-token-4f2a9c";

class PlanSlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteGsm8kFixture(tmp_.Join("gsm8k"), 10);
    WriteTestFile(tmp_.Join("token"), kToken);
    WriteTestFile(tmp_.Join("model/config.json"), "{}");
  }

  // A suite of gsm8k (10 documents) and gsm8k_cot limited to 4, with
  // `cluster` as its cluster: section ("" for none).
  std::string WriteSuite(const std::string& cluster) {
    const std::string path = tmp_.Join("suite.yaml");
    WriteTestFile(
        path,
        absl::StrCat("name: sweep-7b\ncandidate: {model: ", tmp_.Join("model"),
                     "}\ntasks:\n",
                     "  - {name: gsm8k, shots: 2, data: ", tmp_.Join("gsm8k"),
                     "}\n", "  - {name: gsm8k_cot, limit: 4, data: ",
                     tmp_.Join("gsm8k"), "}\n", cluster));
    return path;
  }

  ProcessResult Plan(std::vector<std::string> args) {
    args.insert(args.begin(),
                {BinDir() + "/evalctl", "--token-file", tmp_.Join("token"),
                 "--data-dir", tmp_.Join("data"), "plan"});
    return RunProcess(args);
  }

  TempDir tmp_;
};

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST_F(PlanSlurmTest, PrintsTheBatchScriptAndTheSplitWithoutTheToken) {
  const std::string suite = WriteSuite(
      "cluster:\n  slurm: {shards: 3, partition: gpu, gres: \"gpu:1\", time: "
      "\"02:00:00\", account: lab, qos: high, extra_args: [--exclusive]}\n");
  ProcessResult r = Plan({suite, "--slurm"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, StartsWith("#!/bin/bash\n"));
  for (const char* line :
       {"#SBATCH --job-name=evald-RUN_ID", "#SBATCH --requeue",
        "#SBATCH --open-mode=append", "#SBATCH --partition=gpu",
        "#SBATCH --gres=gpu:1", "#SBATCH --time=02:00:00",
        "#SBATCH --account=lab", "#SBATCH --qos=high",
        "#SBATCH --output=DATA_DIR/cluster/RUN_ID/slurm-%A_%a.out",
        "exec 'EVALD' worker --run 'RUN_ID' --shard \"$SLURM_ARRAY_TASK_ID\" "
        "--coordinator 'HOST:PORT' --token-file 'TOKEN_FILE'",
        // The split, one line per task: 10 = 3 + 3 + 4, 4 = 1 + 1 + 2.
        "# task gsm8k: 10 documents over 3 shards [first,end): 0:[0,3) "
        "1:[3,6) 2:[6,10)",
        "# task gsm8k_cot: 4 documents over 3 shards [first,end): 0:[0,1) "
        "1:[1,2) 2:[2,4)"}) {
    EXPECT_THAT(Lines(r.out), ::testing::Contains(line)) << r.out;
  }
  // How it is submitted: the array and extra_args on sbatch's command line.
  EXPECT_THAT(r.out, HasSubstr("sbatch --parsable --array=0-2 --exclusive "
                               "DATA_DIR/cluster/RUN_ID/RUN_ID.sbatch"));
  // Each placeholder is explained; the token itself never appears.
  for (const char* placeholder : {"# RUN_ID: ", "# EVALD: ", "# HOST:PORT: ",
                                  "# TOKEN_FILE: ", "# DATA_DIR: "}) {
    EXPECT_THAT(r.out, HasSubstr(placeholder));
  }
  EXPECT_THAT(r.out, Not(HasSubstr(kToken)));
  // Every line before the worker command is a comment: sbatch reads all
  // the #SBATCH lines, and bash accepts the whole output.
  bool exec_seen = false;
  for (const std::string& line : Lines(r.out)) {
    if (absl::StartsWith(line, "exec ")) exec_seen = true;
    if (!exec_seen && line != "set -euo pipefail") {
      EXPECT_THAT(line, StartsWith("#"));
    }
  }
  EXPECT_TRUE(exec_seen);
  WriteTestFile(tmp_.Join("job.sbatch"), r.out);
  ProcessResult syntax =
      RunProcess({"/bin/bash", "-n", tmp_.Join("job.sbatch")});
  EXPECT_EQ(syntax.exit_code, 0) << syntax.err;

  // --json: the same script, sbatch's argv and the ranges.
  ProcessResult j = Plan({suite, "--slurm", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto json = base::ParseJson(j.out);
  ASSERT_TRUE(json.ok()) << j.out;
  ASSERT_NE(json->Find("script"), nullptr);
  EXPECT_TRUE(absl::StartsWith(r.out, json->Find("script")->string_value()));
  const base::Json* tasks = json->Find("tasks");
  ASSERT_TRUE(tasks != nullptr && tasks->is_array());
  ASSERT_EQ(tasks->array().size(), 2u);
  const base::Json& gsm = tasks->array()[0];
  EXPECT_EQ(gsm.Find("task")->string_value(), "gsm8k");
  EXPECT_EQ(gsm.Find("documents")->int_value(), 10);
  const std::vector<base::Json>& shards = gsm.Find("shards")->array();
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[2].Find("first")->int_value(), 6);
  EXPECT_EQ(shards[2].Find("end")->int_value(), 10);
}

TEST_F(PlanSlurmTest, SuiteFieldsReplaceThePlaceholders) {
  const std::string suite = WriteSuite(
      "cluster:\n  slurm: {shards: 2, evald: /opt/evald/bin/evald, "
      "coordinator: \"login1:7000\", log_dir: /scratch/logs}\n");
  ProcessResult r = Plan({suite, "--slurm"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("exec '/opt/evald/bin/evald' worker --run 'RUN_ID' "
                        "--shard \"$SLURM_ARRAY_TASK_ID\" --coordinator "
                        "'login1:7000' --token-file 'TOKEN_FILE'"));
  EXPECT_THAT(r.out,
              HasSubstr("#SBATCH --output=/scratch/logs/slurm-%A_%a.out"));
  EXPECT_THAT(r.out, Not(HasSubstr("# EVALD: ")));
  EXPECT_THAT(r.out, Not(HasSubstr("# HOST:PORT: ")));
  EXPECT_THAT(r.out, Not(HasSubstr("DATA_DIR")));
  EXPECT_THAT(r.out, Not(HasSubstr("#SBATCH --partition")));
  EXPECT_THAT(r.out, HasSubstr("# task gsm8k: 10 documents over 2 shards "
                               "[first,end): 0:[0,5) 1:[5,10)\n"));

  // The files transport: a shared folder instead of the coordinator.
  ProcessResult files =
      Plan({suite, "--slurm", "--set", "cluster.slurm.transport=files", "--set",
            "cluster.slurm.shared_dir=/scratch/evald"});
  ASSERT_EQ(files.exit_code, 0) << files.err;
  EXPECT_THAT(files.out, HasSubstr("--shared-dir '/scratch/evald'"));
  EXPECT_THAT(files.out, Not(HasSubstr("--coordinator")));
  EXPECT_THAT(files.out, Not(HasSubstr("TOKEN_FILE")));
}

TEST_F(PlanSlurmTest, ASuiteWithoutClusterIsOneLine) {
  ProcessResult r = Plan({WriteSuite(""), "--slurm"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_THAT(r.err, HasSubstr("suite sweep-7b has no cluster.slurm section"));
  // A task whose dataset is missing names the task.
  ProcessResult missing =
      Plan({WriteSuite("cluster:\n  slurm: {shards: 2}\n"), "--slurm", "--set",
            absl::StrCat("tasks[0].data=", tmp_.Join("nowhere"))});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_EQ(Lines(missing.err).size(), 1u) << missing.err;
  EXPECT_THAT(missing.err, HasSubstr("task 'gsm8k'"));
}

}  // namespace
}  // namespace evald::testing
