// File: tests/tasks/mmlu_task_test.cc
#include "tasks/mmlu_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tasks/task.h"
#include "tests/tasks/task_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::tasks {
namespace {

using ::evald::testing::StatusIs;
using ::evald::testing::TempDir;
using testing::FakeRunner;

// Two stem subjects and one humanities subject; the questions carry the
// details lm-eval's template handles: surrounding whitespace on questions
// (stripped) and on choices (kept), quotes and embedded newlines.
class MmluTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteMmluSubject(dir_.path(), "abstract_algebra",
                              "Find all c in Z_3.,0,1,2,3,B\n"
                              "\" Statement 1 | x.\",\"True, True\",\"False, "
                              "False\",\"True, False\",\"False, True\",A\n"
                              "Find the degree.,0,4,2,6,B\n"
                              "\"Let p = (1, 2).\nFind p.\",8, 2,24,120,C\n"
                              "\"Say \"\"ring\"\".\",yes,no,maybe,never,D\n",
                              "Test question one?,w,x,y,z,C\n  Second?  "
                              ",a,b,c,d,A\nThird,e,f,g,h,A\n");
    testing::WriteMmluSubject(dir_.path(), "anatomy",
                              "a1,a,b,c,d,A\na2,a,b,c,d,B\na3,a,b,c,d,C\na4,a,"
                              "b,c,d,D\na5,a,b,c,d,A\n",
                              "Bone?,a,b,c,d,B\nMuscle?,a,b,c,d,A\n");
    testing::WriteMmluSubject(dir_.path(), "world_religions",
                              "r1,a,b,c,d,A\nr2,a,b,c,d,B\nr3,a,b,c,d,C\nr4,a,"
                              "b,c,d,D\nr5,a,b,c,d,A\n",
                              "God?,a,b,c,d,A\nTemple?,a,b,c,d,D\nRite?,a,b,c,"
                              "d,A\nText?,a,b,c,d,A\n");
    options_.data_path = dir_.path();
  }

  TempDir dir_;
  TaskOptions options_;
};

TEST_F(MmluTaskTest, FiveShotPromptFollowsLmEvalTemplate) {
  ASSERT_OK_AND_ASSIGN(auto task, CreateTask("mmlu", options_));
  EXPECT_THAT(
      task->DocIds(),
      ::testing::ElementsAre("abstract_algebra/0", "abstract_algebra/1",
                             "abstract_algebra/2", "anatomy/0", "anatomy/1",
                             "world_religions/0", "world_religions/1",
                             "world_religions/2", "world_religions/3"));
  EXPECT_EQ(task->info().shots, 5);
  ASSERT_OK_AND_ASSIGN(PromptView view, task->BuildPrompt(1));
  // Written out by hand from the reference: description, 5 dev rows in file
  // order with " <letter>\n\n", then the test question ending "Answer:".
  const std::string expected =
      "The following are multiple choice questions (with answers) about "
      "abstract algebra.\n\n"
      "Find all c in Z_3.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer: B\n\n"
      "Statement 1 | x.\nA. True, True\nB. False, False\nC. True, False\nD. "
      "False, True\nAnswer: A\n\n"
      "Find the degree.\nA. 0\nB. 4\nC. 2\nD. 6\nAnswer: B\n\n"
      "Let p = (1, 2).\nFind p.\nA. 8\nB.  2\nC. 24\nD. 120\nAnswer: C\n\n"
      "Say \"ring\".\nA. yes\nB. no\nC. maybe\nD. never\nAnswer: D\n\n"
      "Second?\nA. a\nB. b\nC. c\nD. d\nAnswer:";
  EXPECT_EQ(view.context, expected);
  EXPECT_EQ(view.doc_id, "abstract_algebra/1");
  EXPECT_THAT(view.continuations,
              ::testing::ElementsAre(" A", " B", " C", " D"));
  EXPECT_EQ(view.target, "A");
}

TEST_F(MmluTaskTest, ZeroShotSystemInstructionAndLimit) {
  options_.shots = 0;
  options_.limit = 1;
  options_.system_instruction = "Answer well.";
  ASSERT_OK_AND_ASSIGN(auto task, CreateTask("mmlu", options_));
  EXPECT_EQ(task->DocIds().size(), 3u);  // the first document of each subject
  ASSERT_OK_AND_ASSIGN(PromptView view, task->BuildPrompt(1));
  EXPECT_EQ(view.context,
            "Answer well.\n\nThe following are multiple choice questions (with "
            "answers) about anatomy.\n\n"
            "Bone?\nA. a\nB. b\nC. c\nD. d\nAnswer:");
}

TEST_F(MmluTaskTest, RunSendsOneBatchAndScoresArgmax) {
  ASSERT_OK_AND_ASSIGN(auto task, CreateTask("mmlu", options_));
  FakeRunner runner;
  // The "model" prefers " A", except that it answers every anatomy question
  // with " B"; ties (all equal) are resolved to the first choice.
  runner.score = [](const runners::LoglikelihoodRequest& r) {
    if (absl::StrContains(r.context, "about anatomy"))
      return r.continuation == " B" ? -0.5 : -2.0;
    if (absl::StrContains(r.context, "Third")) return -1.0;
    return r.continuation == " A" ? -0.1 : -3.0;
  };
  std::vector<size_t> all(task->DocIds().size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  std::vector<SampleResult> samples;
  ASSERT_OK(task->Run(runner, all, RunContext(), [&](SampleResult s) {
    samples.push_back(std::move(s));
    return absl::OkStatus();
  }));
  EXPECT_EQ(runner.loglikelihood_calls, 1);
  EXPECT_EQ(runner.ll_requests.size(), all.size() * 4);
  ASSERT_EQ(samples.size(), all.size());
  std::map<std::string, double> acc;
  for (const SampleResult& s : samples) acc[s.doc_id] = s.metrics.at("acc");
  // Test answers: algebra C,A,A; anatomy B,A; religions A,D,A,A.
  std::map<std::string, double> expected = {
      {"abstract_algebra/0", 0}, {"abstract_algebra/1", 1},
      {"abstract_algebra/2", 1}, {"anatomy/0", 1},
      {"anatomy/1", 0},          {"world_religions/0", 1},
      {"world_religions/1", 0},  {"world_religions/2", 1},
      {"world_religions/3", 1}};
  EXPECT_EQ(acc, expected);
  for (const SampleResult& s : samples) {
    EXPECT_EQ(s.subtask, s.doc_id.substr(0, s.doc_id.find('/')));
    EXPECT_EQ(s.responses.size(), 4u);
  }

  // Aggregates against an independent Python computation of lm-eval's rules.
  std::vector<MetricResult> metrics = task->Aggregate(samples);
  std::string script =
      "import math, statistics\n"
      "subj = {'abstract_algebra': ('stem', [0,1,1]), 'anatomy': ('stem', "
      "[1,0]), "
      "'world_religions': ('humanities', [1,0,1,1])}\n"
      "def se(x): return statistics.stdev(x) / math.sqrt(len(x))\n"
      "def group(names):\n"
      "  ns = [len(subj[s][1]) for s in names]; ses = [se(subj[s][1]) for s in "
      "names]\n"
      "  acc = sum(statistics.mean(subj[s][1]) * n for s, n in zip(names, ns)) "
      "/ sum(ns)\n"
      "  pooled = math.sqrt(sum((n-1)*e*e*n for n, e in zip(ns, ses)) / "
      "(sum(ns) - len(ns)) / sum(ns))\n"
      "  return acc, pooled\n"
      "for g in [['abstract_algebra','anatomy'], ['world_religions'], "
      "list(subj)]: print(*map(repr, group(g)))\n"
      "print(repr(statistics.mean(statistics.mean(v[1]) for v in "
      "subj.values())))\n"
      "print(repr(se(subj['world_religions'][1])))\n";
  std::istringstream py(testing::RunPython(script));
  double stem, stem_se, hum, hum_se, all_acc, all_se, macro, wr_se;
  py >> stem >> stem_se >> hum >> hum_se >> all_acc >> all_se >> macro >> wr_se;
  auto find = [&](const std::string& name,
                  const std::string& group) -> const MetricResult* {
    for (const MetricResult& m : metrics) {
      if (m.name == name && m.group == group) return &m;
    }
    return nullptr;
  };
  ASSERT_NE(find("acc", "stem"), nullptr);
  EXPECT_NEAR(find("acc", "stem")->value, stem, 1e-12);
  EXPECT_NEAR(find("acc", "stem")->stderr_value, stem_se, 1e-12);
  EXPECT_EQ(find("acc", "stem")->count, 5);
  EXPECT_NEAR(find("acc", "humanities")->value, hum, 1e-12);
  EXPECT_NEAR(find("acc", "humanities")->stderr_value, hum_se, 1e-12);
  EXPECT_EQ(find("acc", "social_sciences"), nullptr);
  EXPECT_NEAR(find("acc", "")->value, all_acc, 1e-12);
  EXPECT_NEAR(find("acc", "")->stderr_value, all_se, 1e-12);
  EXPECT_EQ(find("acc", "")->aggregation, "micro");
  EXPECT_NEAR(find("acc_macro", "")->value, macro, 1e-12);
  EXPECT_EQ(find("acc_macro", "")->aggregation, "macro");
  EXPECT_NEAR(find("acc", "world_religions")->stderr_value, wr_se, 1e-12);
}

TEST_F(MmluTaskTest, ChatTemplateUsesMultiturnShotsAndBareLetters) {
  options_.chat_template = true;
  options_.shots = 2;
  options_.limit = 1;
  ASSERT_OK_AND_ASSIGN(auto task, CreateTask("mmlu", options_));
  FakeRunner runner;
  std::vector<size_t> first = {1};  // anatomy/0
  ASSERT_OK(task->Run(runner, first, RunContext(),
                      [](SampleResult) { return absl::OkStatus(); }));
  ASSERT_EQ(runner.ll_requests.size(), 4u);
  EXPECT_EQ(runner.ll_requests[0].context,
            "<|system|>The following are multiple choice questions (with "
            "answers) about anatomy.\n\n"
            "<|user|>a1\nA. a\nB. b\nC. c\nD. d\nAnswer:<|assistant|>A"
            "<|user|>a2\nA. a\nB. b\nC. c\nD. d\nAnswer:<|assistant|>B"
            "<|user|>Bone?\nA. a\nB. b\nC. c\nD. d\nAnswer:<|assistant|>");
  EXPECT_EQ(runner.ll_requests[0].continuation, "A");
  EXPECT_EQ(runner.ll_requests[3].continuation, "D");
  EXPECT_NE(task->info().prompt_format_hash, "");

  // A template without a system role: lm-eval retries without the system
  // message, which drops the description.
  FakeRunner no_system;
  no_system.reject_system_role = true;
  ASSERT_OK(task->Run(no_system, first, RunContext(),
                      [](SampleResult) { return absl::OkStatus(); }));
  ASSERT_EQ(no_system.ll_requests.size(), 4u);
  EXPECT_TRUE(no_system.ll_requests[0].context.starts_with("<|user|>a1\nA. a"))
      << no_system.ll_requests[0].context;
}

TEST_F(MmluTaskTest, FailedRequestsGiveErrorSamplesLeftOutOfScores) {
  ASSERT_OK_AND_ASSIGN(auto task, CreateTask("mmlu", options_));
  FakeRunner runner;
  runner.fail_context_containing = "Bone?";
  std::vector<size_t> docs = {3, 4};  // anatomy/0 fails, anatomy/1 scores
  std::vector<SampleResult> samples;
  ASSERT_OK(task->Run(runner, docs, RunContext(), [&](SampleResult s) {
    samples.push_back(std::move(s));
    return absl::OkStatus();
  }));
  ASSERT_EQ(samples.size(), 2u);
  for (const SampleResult& s : samples) {
    if (s.doc_id == "anatomy/0") {
      EXPECT_THAT(s.error, ::testing::HasSubstr("prompt too long"));
      EXPECT_TRUE(s.metrics.empty());
    } else {
      EXPECT_EQ(s.error, "");
    }
  }
  std::vector<MetricResult> metrics = task->Aggregate(samples);
  ASSERT_FALSE(metrics.empty());
  EXPECT_EQ(metrics[0].group, "anatomy");
  EXPECT_EQ(metrics[0].count, 1);
}

TEST_F(MmluTaskTest, SinkErrorAbortsTheRun) {
  ASSERT_OK_AND_ASSIGN(auto task, CreateTask("mmlu", options_));
  FakeRunner runner;
  std::vector<size_t> docs = {0, 1, 2, 3};
  int calls = 0;
  absl::Status status =
      task->Run(runner, docs, RunContext(), [&](SampleResult) {
        ++calls;
        return absl::InternalError("store is full");
      });
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInternal,
                               ::testing::HasSubstr("store is full")));
  EXPECT_EQ(calls, 1);
}

TEST_F(MmluTaskTest, TooFewDevRowsAndBadVariantAreErrors) {
  options_.shots = 6;
  EXPECT_THAT(CreateTask("mmlu", options_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("dev rows")));
  options_.shots = -1;
  options_.variant = "cot";
  EXPECT_THAT(CreateTask("mmlu", options_),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace evald::tasks
