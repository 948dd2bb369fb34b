#include "daemon/suite.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::daemon {
namespace {

using ::evald::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kSuite[] = R"(name: nightly
candidate:
  model: ckpt/step-1200
  dtype: bfloat16
  chat_template: true
  max_context: 4096
judge:
  endpoint: http://127.0.0.1:8000/v1
  model: llama-70b
tasks:
  - name: mmlu
    shots: 5
  - name: gsm8k
    limit: 50
    variant: cot
    data: /data/gsm8k
  - ifeval
seed: 7
limit: 100
pin:
  driver: "580.159.04"
  datasets:
    mmlu: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
labels:
  checkpoint: "1200"
  branch: main
)";

absl::StatusOr<v1::RunSpec> Parse(const std::string& text,
                                  std::vector<std::string> overrides = {}) {
  return ParseSuite(
      SuiteSource{
          .text = text, .display_name = "suite.yaml", .base_dir = "/base"},
      overrides);
}

std::string Replace(std::string text, const std::string& from,
                    const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(SuiteTest, ParsesFullExample) {
  ASSERT_OK_AND_ASSIGN(v1::RunSpec spec, Parse(kSuite));
  EXPECT_EQ(spec.name(), "nightly");
  EXPECT_EQ(spec.candidate().source_case(), v1::ModelSpec::kPath);
  EXPECT_EQ(spec.candidate().path(), "/base/ckpt/step-1200");
  EXPECT_EQ(spec.candidate().dtype(), "bfloat16");
  EXPECT_TRUE(spec.candidate().chat_template());
  EXPECT_EQ(spec.candidate().max_context(), 4096);
  ASSERT_TRUE(spec.has_judge());
  EXPECT_EQ(spec.judge().source_case(), v1::ModelSpec::kEndpoint);
  EXPECT_EQ(spec.judge().endpoint(), "http://127.0.0.1:8000/v1");
  EXPECT_EQ(spec.judge().model(), "llama-70b");
  ASSERT_EQ(spec.tasks_size(), 3);
  EXPECT_EQ(spec.tasks(0).name(), "mmlu");
  EXPECT_EQ(spec.tasks(0).shots(), 5);
  EXPECT_EQ(spec.tasks(0).limit(), 100);  // the suite-wide limit
  EXPECT_EQ(spec.tasks(1).shots(), -1);   // the task's default
  EXPECT_EQ(spec.tasks(1).limit(), 50);
  EXPECT_EQ(spec.tasks(1).variant(), "cot");
  EXPECT_EQ(spec.tasks(1).data_path(), "/data/gsm8k");
  EXPECT_EQ(spec.tasks(2).name(), "ifeval");
  EXPECT_EQ(spec.seed(), 7u);
  EXPECT_EQ(spec.pin().driver(), "580.159.04");
  EXPECT_EQ(spec.pin().datasets().at("mmlu").size(), 7u + 64u);
  EXPECT_EQ(spec.labels().at("checkpoint"), "1200");
  EXPECT_EQ(spec.labels().at("branch"), "main");
  EXPECT_EQ(spec.suite_yaml(), kSuite);
}

TEST(SuiteTest, WrongTypeNamesLineColumnAndField) {
  std::string text = Replace(kSuite, "    limit: 50", "    shots: five");
  EXPECT_THAT(
      Parse(text),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "suite.yaml:14:12: field 'tasks[1].shots': expected an integer, "
               "got 'five'"));
}

TEST(SuiteTest, UnknownKeyNamesLineColumnAndField) {
  std::string text = Replace(kSuite, "  dtype: bfloat16", "  dtpye: bfloat16");
  EXPECT_THAT(Parse(text),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("suite.yaml:4:3: field 'candidate.dtpye': "
                                 "unknown key")));
}

TEST(SuiteTest, MissingRequiredFields) {
  EXPECT_THAT(
      Parse("name: x\ntasks: [mmlu]\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("suite.yaml:1:1: field 'candidate': required")));
  EXPECT_THAT(Parse("name: x\ncandidate: {dtype: auto}\ntasks: [mmlu]\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field 'candidate.model': required")));
  EXPECT_THAT(
      Parse("name: x\ncandidate: {model: m}\ntasks:\n  - shots: 5\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("suite.yaml:4:5: field 'tasks[0].name': required")));
  EXPECT_THAT(
      Parse("name: x\ncandidate: {model: m}\n"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'tasks'")));
  EXPECT_THAT(Parse(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

TEST(SuiteTest, MalformedYamlNamesLine) {
  EXPECT_THAT(Parse("name: x\ncandidate: {model: m\ntasks: [mmlu]\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::MatchesRegex(
                           "suite\\.yaml:[0-9]+:[0-9]+: invalid YAML: .*")));
}

TEST(SuiteTest, DuplicateKeysAndTasksAreErrors) {
  EXPECT_THAT(
      Parse("name: x\nname: y\ncandidate: {model: m}\ntasks: [mmlu]\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("suite.yaml:2:1: field 'name': key is given twice")));
  EXPECT_THAT(
      Parse("name: x\ncandidate: {model: m}\ntasks: [mmlu, mmlu]\n"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("listed twice")));
}

TEST(SuiteTest, OtherTypeErrors) {
  EXPECT_THAT(
      Parse(Replace(kSuite, "chat_template: true", "chat_template: maybe")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(
                   "suite.yaml:5:18: field 'candidate.chat_template': expected "
                   "true or false, got 'maybe'")));
  EXPECT_THAT(
      Parse(Replace(kSuite, "  branch: main", "  branch: [a, b]")),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("field 'labels.branch': expected a string, got a list")));
  EXPECT_THAT(Parse(Replace(kSuite, "mmlu: sha256:0123", "mmlu: sha256:zz23")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field 'pin.datasets.mmlu'")));
  EXPECT_THAT(Parse(Replace(kSuite, "dtype: bfloat16", "dtype: int3")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("candidate.dtype")));
}

TEST(SuiteTest, OverridesApplyBeforeValidation) {
  ASSERT_OK_AND_ASSIGN(
      v1::RunSpec spec,
      Parse(kSuite, {"candidate.model=/ckpt/1400", "labels.checkpoint=1400",
                     "tasks[0].limit=5", "labels.new=yes", "seed=9"}));
  EXPECT_EQ(spec.candidate().path(), "/ckpt/1400");
  EXPECT_EQ(spec.labels().at("checkpoint"), "1400");
  EXPECT_EQ(spec.labels().at("new"), "yes");
  EXPECT_EQ(spec.tasks(0).limit(), 5);
  EXPECT_EQ(spec.seed(), 9u);
}

TEST(SuiteTest, BadOverridesNameTheOverride) {
  EXPECT_THAT(Parse(kSuite, {"tasks[0].limit=lots"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--set tasks[0].limit=lots: field 'tasks[0].limit': "
                       "expected an integer, "
                       "got 'lots'"));
  EXPECT_THAT(Parse(kSuite, {"tasks[7].limit=1"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has no element [7]")));
  EXPECT_THAT(
      Parse(kSuite, {"candidate.weights=/x"}),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("--set candidate.weights=/x: field 'candidate.weights': "
                    "unknown key")));
  EXPECT_THAT(Parse(kSuite, {"novalue"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected FIELD=VALUE")));
}

TEST(SuiteTest, FileRelativePathsResolveAgainstSuiteFolder) {
  testing::TempDir dir;
  testing::WriteTestFile(dir.Join("suites/s.yaml"),
                         "name: s\ncandidate:\n  model: ../models/m\ntasks:\n"
                         "  - name: gsm8k\n    data: data/g\n");
  ASSERT_OK_AND_ASSIGN(v1::RunSpec spec,
                       ParseSuiteFile(dir.Join("suites/s.yaml"), {}));
  EXPECT_EQ(spec.candidate().path(), dir.Join("models/m"));
  EXPECT_EQ(spec.tasks(0).data_path(), dir.Join("suites/data/g"));
  EXPECT_EQ(spec.suite_path(), dir.Join("suites/s.yaml"));
  EXPECT_THAT(ParseSuiteFile(dir.Join("nope.yaml"), {}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope.yaml")));
}

TEST(SuiteTest, FileOptionsResolveAgainstSuiteFolder) {
  ASSERT_OK_AND_ASSIGN(
      v1::RunSpec spec,
      Parse("name: s\ncandidate:\n  model: m\ntasks:\n"
            "  - name: judged\n    options: {template: t/single.yaml, mode: "
            "single}\n"
            "  - name: gsm8k\n    options: {judge_check: true, judge_template: "
            "/abs/r.yaml}\n"
            "  - name: ifeval\n    options: {punkt_path: punkt}\n"));
  EXPECT_EQ(spec.tasks(0).options().at("template"), "/base/t/single.yaml");
  EXPECT_EQ(spec.tasks(0).options().at("mode"), "single");
  EXPECT_EQ(spec.tasks(1).options().at("judge_template"), "/abs/r.yaml");
  EXPECT_EQ(spec.tasks(1).options().at("judge_check"), "true");
  EXPECT_EQ(spec.tasks(2).options().at("punkt_path"), "/base/punkt");
}

TEST(SuiteTest, DefaultDatasetNames) {
  EXPECT_EQ(DefaultDatasetName("gsm8k_cot_llama"), "gsm8k");
  EXPECT_EQ(DefaultDatasetName("mmlu"), "mmlu");
  EXPECT_EQ(DefaultDatasetName("ifeval"), "ifeval");
}

}  // namespace
}  // namespace evald::daemon

namespace evald::daemon {
namespace {

TEST(SuiteTest, OverrideExpandsShortTaskEntries) {
  ASSERT_OK_AND_ASSIGN(
      v1::RunSpec spec,
      ParseSuite(
          SuiteSource{
              .text =
                  "name: x\ncandidate: {model: /m}\ntasks: [mmlu, gsm8k]\n"},
          {"tasks[1].limit=3"}));
  EXPECT_EQ(spec.tasks(0).limit(), 0);
  EXPECT_EQ(spec.tasks(1).name(), "gsm8k");
  EXPECT_EQ(spec.tasks(1).limit(), 3);
}

// `- yaml: PATH`: an lm-eval task file or folder, resolved against the
// suite's folder and loaded at parse, so a broken one fails here naming its
// own file, line and key.
TEST(SuiteTest, YamlTaskFiles) {
  evald::testing::TempDir dir;
  evald::testing::WriteTestFile(
      dir.Join("tasks/a.yaml"),
      "task: a\ntag: both\ndataset_path: d\ntest_split: test\n");
  evald::testing::WriteTestFile(
      dir.Join("tasks/b.yaml"),
      "task: b\ntag: both\ndataset_path: d\ntest_split: test\n");
  evald::testing::WriteTestFile(dir.Join("tasks/g.yaml"),
                                "group: g\ntask: [a, b]\n");
  evald::testing::WriteTestFile(dir.Join("bad/x.yaml"),
                                "task: x\ndoc_to_txt: q\n");
  auto parse = [&](const std::string& tasks) {
    return ParseSuite(
        SuiteSource{.text = "name: n\ncandidate:\n  model: m\ntasks:\n" + tasks,
                    .display_name = "suite.yaml",
                    .base_dir = dir.path()},
        {});
  };
  ASSERT_OK_AND_ASSIGN(
      v1::RunSpec spec,
      parse("  - yaml: tasks/a.yaml\n    shots: 2\n    limit: 3\n"
            "  - {yaml: tasks, name: both, system_instruction: be brief}\n"
            "  - yaml: tasks/g.yaml\n"));
  ASSERT_EQ(spec.tasks_size(), 3);
  EXPECT_EQ(spec.tasks(0).name(), "a");
  EXPECT_EQ(spec.tasks(0).task_file(), dir.Join("tasks/a.yaml"));
  EXPECT_EQ(spec.tasks(0).shots(), 2);
  EXPECT_EQ(spec.tasks(0).limit(), 3);
  EXPECT_EQ(spec.tasks(1).name(), "both");
  EXPECT_EQ(spec.tasks(1).task_file(), dir.Join("tasks"));
  EXPECT_EQ(spec.tasks(1).system_instruction(), "be brief");
  EXPECT_EQ(spec.tasks(2).name(), "g");  // a lone file's own group

  ASSERT_OK_AND_ASSIGN(spec, parse("  - yaml: tasks\n"));
  EXPECT_EQ(spec.tasks(0).name(), "g");  // the group no group lists
  evald::testing::WriteTestFile(dir.Join("two/a.yaml"),
                                "task: a\ndataset_path: d\ntest_split: test\n");
  evald::testing::WriteTestFile(dir.Join("two/b.yaml"),
                                "task: b\ndataset_path: d\ntest_split: test\n");
  EXPECT_THAT(parse("  - yaml: two\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("suite.yaml:5:11: field 'tasks[0].yaml': more "
                                 "than one lm-eval task or group here")));
  EXPECT_THAT(parse("  - {yaml: tasks, name: c}\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("suite.yaml:5:25: field 'tasks[0].name': no "
                                 "lm-eval task, group or tag 'c'")));
  EXPECT_THAT(
      parse("  - yaml: bad/x.yaml\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("suite.yaml:5:11: field 'tasks[0].yaml': " +
                         dir.Join("bad/x.yaml") +
                         ":2:1: key 'doc_to_txt' is not an lm-eval task key "
                         "(did you mean 'doc_to_text'?)")));
  EXPECT_THAT(parse("  - {yaml: tasks/a.yaml, data: /x}\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field 'tasks[0].data': not meaningful with "
                                 "'yaml'")));
  EXPECT_THAT(
      parse("  - yaml: nowhere.yaml\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("field 'tasks[0].yaml': " + dir.Join("nowhere.yaml") +
                         ": no such task YAML file or folder")));
}

constexpr char kClusterSuite[] = R"(name: sharded
candidate:
  model: /ckpt
tasks: [gsm8k]
cluster:
  slurm:
    shards: 4
    partition: gpu
    gres: "gpu:1"
    time: "02:00:00"
    account: lab
    qos: normal
    extra_args: ["--exclusive", "--mem=64G"]
)";

TEST(SuiteTest, ParsesSlurmCluster) {
  ASSERT_OK_AND_ASSIGN(v1::RunSpec spec, Parse(kClusterSuite));
  const v1::SlurmSpec& slurm = spec.cluster().slurm();
  EXPECT_EQ(slurm.shards(), 4);
  EXPECT_EQ(slurm.partition(), "gpu");
  EXPECT_EQ(slurm.gres(), "gpu:1");
  EXPECT_EQ(slurm.time(), "02:00:00");
  EXPECT_EQ(slurm.account(), "lab");
  EXPECT_EQ(slurm.qos(), "normal");
  EXPECT_THAT(slurm.extra_args(),
              ::testing::ElementsAre("--exclusive", "--mem=64G"));
  EXPECT_EQ(slurm.max_failures(), 3);    // the default
  EXPECT_EQ(slurm.transport(), "grpc");  // the default
  // A suite without `cluster:` runs locally.
  ASSERT_OK_AND_ASSIGN(v1::RunSpec local, Parse(kSuite));
  EXPECT_FALSE(local.has_cluster());
}

TEST(SuiteTest, SlurmShardsCanBeSetFromTheCommandLine) {
  ASSERT_OK_AND_ASSIGN(v1::RunSpec spec,
                       Parse(kClusterSuite, {"cluster.slurm.shards=8"}));
  EXPECT_EQ(spec.cluster().slurm().shards(), 8);
  ASSERT_OK_AND_ASSIGN(spec, Parse(kSuite, {"cluster.slurm.shards=2"}));
  EXPECT_EQ(spec.cluster().slurm().shards(), 2);
}

TEST(SuiteTest, RefusesBadSlurmSettings) {
  EXPECT_THAT(Parse(Replace(kClusterSuite, "qos: normal", "qoss: normal")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field 'cluster.slurm.qoss': unknown key")));
  EXPECT_THAT(Parse(Replace(kClusterSuite, "shards: 4", "shards: 0")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field 'cluster.slurm.shards': must be "
                                 "between 1 and 4096, got 0")));
  EXPECT_THAT(
      Parse(Replace(kClusterSuite, "shards: 4", "shards: four")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("cluster.slurm.shards': expected an integer")));
  EXPECT_THAT(Parse(Replace(kClusterSuite, "    shards: 4\n", "")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cluster.slurm.shards': required")));
  EXPECT_THAT(Parse(Replace(kClusterSuite, "  slurm:", "  kubernetes:")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field 'cluster.kubernetes': unknown key")));
  EXPECT_THAT(
      Parse(Replace(kClusterSuite, "qos: normal",
                    "qos: normal\n    transport: files")),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("cluster.slurm.shared_dir': required with transport")));
  EXPECT_THAT(Parse(Replace(kClusterSuite, "qos: normal",
                            "qos: normal\n    transport: ssh")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected grpc or files, got ssh")));
  EXPECT_THAT(
      Parse(Replace(kClusterSuite, "[\"--exclusive\", \"--mem=64G\"]",
                    "--exclusive")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("cluster.slurm.extra_args': expected a list")));
  EXPECT_THAT(Parse(Replace(kClusterSuite, "account: lab",
                            "account: \"lab\\nrm -rf /\"")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cluster.slurm.account': must be one line")));
  // The line and column of the bad key are named.
  EXPECT_THAT(
      Parse(Replace(kClusterSuite, "shards: 4", "shards: -1")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("suite.yaml:7:13: field 'cluster.slurm.shards'")));
}

}  // namespace
}  // namespace evald::daemon
