// The judged task without a daemon: dataset forms and their errors, options,
// and one run with in-process runners (the candidate and a judge whose
// replies the test chooses) through grading and aggregation.
#include "tasks/judged_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "tests/tasks/task_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::tasks {
namespace {

using ::evald::testing::StatusIs;
using ::testing::HasSubstr;

class JudgedTaskTest : public ::testing::Test {
 protected:
  TaskOptions Options(const std::string& jsonl,
                      std::map<std::string, std::string> options = {}) {
    const std::string path = tmp_.Join("p.jsonl");
    evald::testing::WriteTestFile(path, jsonl);
    TaskOptions o;
    o.data_path = path;
    o.options = std::move(options);
    return o;
  }
  evald::testing::TempDir tmp_;
};

TEST_F(JudgedTaskTest, DatasetFormsAndErrorsNameFileLineAndField) {
  const std::string mtbench =
      "{\"question_id\": 81, \"category\": \"writing\", \"turns\": [\"Write a "
      "poem.\", \"Shorter.\"]}\n";
  EXPECT_THAT(CreateJudgedTask(Options(mtbench)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("p.jsonl:1: field 'turns': has 2 entries")));
  auto first = CreateJudgedTask(Options(mtbench, {{"first_turn", "true"}}));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->DocIds(), std::vector<std::string>{"81"});
  EXPECT_EQ((*first)->BuildPrompt(0)->context, "Write a poem.");
  EXPECT_TRUE((*first)->info().needs_judge);
  EXPECT_FALSE((*first)->info().needs_baseline);

  EXPECT_THAT(
      CreateJudgedTask(Options("{\"id\": \"a\", \"prompt\": \"x\"}\n{\"id\": "
                               "\"a\", \"prompt\": \"y\"}\n")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("p.jsonl:2: field 'id': duplicate id 'a'")));
  EXPECT_THAT(CreateJudgedTask(Options("{\"id\": 1.5, \"prompt\": \"x\"}\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("p.jsonl:1: field 'id'")));
  EXPECT_THAT(CreateJudgedTask(Options("{\"prompt\": \"\"}\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field 'prompt': is empty")));
  EXPECT_THAT(
      CreateJudgedTask(Options("{\"prompt\": \"x\", \"category\": 3}\n")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("field 'category'")));
  EXPECT_THAT(
      CreateJudgedTask(Options("\n\n")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no prompts")));
  EXPECT_THAT(CreateJudgedTask(Options("{\"prompt\": \"x\"")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("p.jsonl:1: malformed JSON")));
  // Line ids by default.
  auto plain = CreateJudgedTask(
      Options("{\"prompt\": \"x\"}\n\n{\"question\": \"y\"}\n"));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ((*plain)->DocIds(), (std::vector<std::string>{"line1", "line3"}));
}

TEST_F(JudgedTaskTest, InvalidUtf8IsRefusedNamingLineAndField) {
  EXPECT_THAT(
      CreateJudgedTask(Options(
          "{\"prompt\": \"x\"}\n{\"prompt\": \"Explain \xed\xa0\x80.\"}\n")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("p.jsonl:2: field 'prompt' is not valid UTF-8 (byte 8 "
                         "of its value)")));
  EXPECT_THAT(CreateJudgedTask(
                  Options("{\"prompt\": \"x\", \"reference\": [\"r\xf8\"]}\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("p.jsonl:1: field 'reference[0]' is not valid "
                                 "UTF-8 (byte 1 of its value)")));
}

TEST_F(JudgedTaskTest, OptionsAreChecked) {
  const std::string one = "{\"id\": \"a\", \"prompt\": \"x\"}\n";
  EXPECT_THAT(CreateJudgedTask(Options(one, {{"rubric", "x"}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown option 'rubric'")));
  EXPECT_THAT(
      CreateJudgedTask(Options(one, {{"mode", "elo"}})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("'elo' is not single, pairwise or reference")));
  EXPECT_THAT(CreateJudgedTask(Options(one, {{"mode", "reference"}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prompt 'a' has no 'reference'")));
  EXPECT_THAT(CreateJudgedTask(Options(one, {{"mode", "pairwise"}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("needs option 'baseline'")));
  EXPECT_THAT(
      CreateJudgedTask(Options(one, {{"baseline", "r1"}})),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pairwise only")));
  EXPECT_THAT(CreateJudgedTask(Options(one, {{"max_new_tokens", "0"}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("option 'max_new_tokens'")));
  const std::string pairwise_template = tmp_.Join("pair.yaml");
  evald::testing::WriteTestFile(
      pairwise_template,
      "mode: pairwise\nprompt: \"{question} {answer_a} {answer_b}\"\n");
  EXPECT_THAT(CreateJudgedTask(Options(one, {{"template", pairwise_template}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is a pairwise template")));
  auto pair = CreateJudgedTask(Options(one, {{"mode", "pairwise"},
                                             {"baseline", "r1"},
                                             {"template", pairwise_template}}));
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_TRUE((*pair)->info().needs_baseline);
  // Another template, another prompt-format hash.
  auto default_pair = CreateJudgedTask(
      Options(one, {{"mode", "pairwise"}, {"baseline", "r1"}}));
  ASSERT_TRUE(default_pair.ok());
  EXPECT_NE((*pair)->info().prompt_format_hash,
            (*default_pair)->info().prompt_format_hash);
}

TEST_F(JudgedTaskTest, RunGradesEveryAnswerAndAggregatesPerCategory) {
  auto task = CreateJudgedTask(Options(
      "{\"id\": \"a\", \"prompt\": \"alpha?\", \"category\": \"x\"}\n"
      "{\"id\": \"b\", \"prompt\": \"beta?\", \"category\": \"y\"}\n"
      "{\"id\": \"c\", \"prompt\": \"gamma?\", \"category\": \"y\"}\n"));
  ASSERT_TRUE(task.ok()) << task.status();
  testing::FakeRunner candidate;
  candidate.generate = [](const runners::GenerateRequest& r) {
    return "answer to " + r.prompt;
  };
  testing::FakeRunner judge;
  judge.generate = [](const runners::GenerateRequest& r) {
    if (absl::StrContains(r.prompt, "answer to alpha?"))
      return std::string("[[9]]");
    if (absl::StrContains(r.prompt, "answer to beta?"))
      return std::string("[[5]]");
    return std::string("cannot say");  // gamma: unparsable, retried once
  };
  JudgeProgress progress;
  RunContext context;
  context.judge = &judge;
  context.judge_progress = &progress;
  std::vector<SampleResult> samples;
  std::vector<size_t> all = {0, 1, 2};
  ASSERT_TRUE((*task)
                  ->Run(candidate, all, context,
                        [&](SampleResult s) {
                          samples.push_back(std::move(s));
                          return absl::OkStatus();
                        })
                  .ok());
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(progress.graded.load(), 3);
  int retried = 0;
  for (const SampleResult& s : samples) {
    ASSERT_EQ(s.judge.size(), 1u);
    EXPECT_THAT(s.judge[0].prompt, HasSubstr(s.responses[0]));
    if (s.doc_id == "c") {
      EXPECT_EQ(s.judge[0].verdict, "unparsable");
      retried += s.judge[0].raw.size() == 2 ? 1 : 0;
    }
  }
  EXPECT_EQ(retried, 1);
  std::vector<MetricResult> metrics = (*task)->Aggregate(samples);
  auto find = [&](const std::string& name,
                  const std::string& group) -> const MetricResult* {
    for (const MetricResult& m : metrics) {
      if (m.name == name && m.group == group) return &m;
    }
    return nullptr;
  };
  ASSERT_NE(find("rating", ""), nullptr);
  EXPECT_DOUBLE_EQ(find("rating", "")->value, 7.0);
  EXPECT_EQ(find("rating", "")->count, 2);
  EXPECT_DOUBLE_EQ(find("rating", "x")->value, 9.0);
  EXPECT_DOUBLE_EQ(find("rating", "y")->value, 5.0);
  EXPECT_DOUBLE_EQ(find("judge_unparsable", "")->value, 1.0);
  EXPECT_DOUBLE_EQ(find("judge_errors", "")->value, 0.0);

  // Without a judge the task refuses to run.
  EXPECT_THAT(
      (*task)->Run(candidate, all, RunContext{},
                   [](SampleResult) { return absl::OkStatus(); }),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("judge")));
}

}  // namespace
}  // namespace evald::tasks
