// File: tests/tasks/gsm8k_task_test.cc
#include "tasks/gsm8k_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/json.h"
#include "tasks/task.h"
#include "tests/tasks/task_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::tasks {
namespace {

using ::evald::testing::StatusIs;
using ::evald::testing::TempDir;
using ::evald::testing::WriteTestFile;
using testing::FakeRunner;

class Gsm8kTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string train;
    for (int i = 0; i < 12; ++i) {
      absl::StrAppend(&train, "{\"question\": \"Train question ", i,
                      "?\", \"answer\": \"Work ", i, ".\\n#### ", i, "\"}\n");
    }
    WriteTestFile(dir_.Join("train.jsonl"), train);
    WriteTestFile(dir_.Join("test.jsonl"),
                  "{\"question\": \"How many?\", \"answer\": \"3 + 4 = "
                  "<<3+4=7>>7\\n#### 7\"}\n"
                  "{\"question\": \"How much money?\", \"answer\": \"It is "
                  "$1,200.\\n#### 1,200\"}\n"
                  "{\"question\": \"Debt?\", \"answer\": \"x\\n#### -5\"}\n"
                  "{\"question\": \"Last?\", \"answer\": \"y\\n#### 18\"}\n");
    options_.data_path = dir_.path();
  }

  TempDir dir_;
  TaskOptions options_;
};

TEST_F(Gsm8kTaskTest, RandomShotsMatchCPythonSequence) {
  ASSERT_OK_AND_ASSIGN(auto task, CreateTask("gsm8k", options_));
  EXPECT_EQ(task->info().version, "3.0");
  EXPECT_EQ(task->info().shots, 5);
  EXPECT_THAT(task->DocIds(), ::testing::ElementsAre("0", "1", "2", "3"));
  // The expected shots come from CPython: one Random(1234), sample(range(12),
  // 5) per test document in order.
  std::istringstream py(
      testing::RunPython("import random\nr = random.Random(1234)\n"
                         "for _ in range(4): print(' '.join(map(str, "
                         "r.sample(range(12), 5))))\n"));
  for (size_t doc = 0; doc < 4; ++doc) {
    std::string line;
    std::getline(py, line);
    std::string expected;
    for (absl::string_view index : absl::StrSplit(line, ' ')) {
      absl::StrAppend(&expected, "Question: Train question ", index,
                      "?\nAnswer: Work ", index, ".\n#### ", index, "\n\n");
    }
    ASSERT_OK_AND_ASSIGN(PromptView view, task->BuildPrompt(doc));
    const char* questions[] = {"How many?", "How much money?", "Debt?",
                               "Last?"};
    absl::StrAppend(&expected, "Question: ", questions[doc], "\nAnswer:");
    EXPECT_EQ(view.context, expected) << "doc " << doc;
    EXPECT_THAT(view.stop,
                ::testing::ElementsAre("Question:", "</s>", "<|im_end|>"));
    EXPECT_EQ(view.max_new_tokens, 256);
  }
  ASSERT_OK_AND_ASSIGN(PromptView first, task->BuildPrompt(0));
  EXPECT_EQ(first.target,
            "3 + 4 = <<3+4=7>>7\n#### 7");  // the full solution, as lm-eval's
                                            // doc_to_target

  // A different seed gives different shots.
  options_.seed = 7;
  ASSERT_OK_AND_ASSIGN(auto other, CreateTask("gsm8k", options_));
  ASSERT_OK_AND_ASSIGN(PromptView other_view, other->BuildPrompt(0));
  EXPECT_NE(other_view.context, first.context);
  EXPECT_NE(other->info().prompt_format_hash, task->info().prompt_format_hash);
}

TEST_F(Gsm8kTaskTest, CotPromptsUseTheFixedExemplars) {
  options_.shots = 2;
  ASSERT_OK_AND_ASSIGN(auto cot, CreateTask("gsm8k_cot", options_));
  ASSERT_OK_AND_ASSIGN(PromptView view, cot->BuildPrompt(0));
  EXPECT_EQ(view.context,
            "Q: There are 15 trees in the grove. Grove workers will plant "
            "trees in the grove today. After they are "
            "done, there will be 21 trees. How many trees did the grove "
            "workers plant today?\n"
            "A: There are 15 trees originally. Then there were 21 trees after "
            "some more were planted. So there "
            "must have been 21 - 15 = 6. The answer is 6.\n\n"
            "Q: If there are 3 cars in the parking lot and 2 more cars arrive, "
            "how many cars are in the parking "
            "lot?\nA: There are originally 3 cars. 2 more cars arrive. 3 + 2 = "
            "5. The answer is 5.\n\n"
            "Q: How many?\nA:");
  EXPECT_EQ(view.target, "7");
  EXPECT_THAT(view.stop, ::testing::ElementsAre("Q:", "</s>", "<|im_end|>"));

  options_.shots = 1;
  ASSERT_OK_AND_ASSIGN(auto llama, CreateTask("gsm8k_cot_llama", options_));
  EXPECT_EQ(llama->info().version, "4.0");
  ASSERT_OK_AND_ASSIGN(PromptView lv, llama->BuildPrompt(1));
  const std::string pre =
      "Given the following problem, reason and give a final answer to the "
      "problem.\nProblem: ";
  const std::string post =
      "\nYour response should end with \"The final answer is [answer]\" where "
      "[answer] is the response to the "
      "problem.\n";
  EXPECT_EQ(lv.context, pre +
                            "There are 15 trees in the grove. Grove workers "
                            "will plant trees in the grove today. "
                            "After they are done, there will be 21 trees. How "
                            "many trees did the grove workers "
                            "plant today?" +
                            post +
                            "There are 15 trees originally. Then there were 21 "
                            "trees after some more were "
                            "planted. So there must have been 21 - 15 = 6. The "
                            "final answer is 6\n\n" +
                            pre + "How much money?" + post);
  EXPECT_EQ(lv.target, "1,200");
  options_.shots = 9;
  EXPECT_THAT(CreateTask("gsm8k_cot", options_),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(Gsm8kTaskTest, ExtractionAndExactMatchAgreeWithPython) {
  const std::vector<std::string> responses = {
      "So the total is 1,200.\n#### 1,200",
      "#### $1,200",
      "The answer is $1,200.00.",
      "It is 7. #### 7.",
      "We get 3, then 5, then 7",
      "no idea",
      "The answer is -5.",
      "The answer is 18",
      "The final answer is $18",
      "The final answer is 18. Then 4.",
      "#### 7\n#### 8",
      "costs $18.",
      "1.5 and 2",
      "",
  };
  const std::vector<std::string> references = {"1,200", "7", "-5", "18"};
  const std::vector<std::pair<std::string, int>> filters = {
      {"#### (\\-?[0-9\\.\\,]+)", 0},
      {"The answer is (\\-?[0-9\\.\\,]+).", 0},
      {"The final answer is ((-?[$0-9.,]{2,})|(-?[0-9]+))", -1},
      {"(-?[$0-9.,]{2,})|(-?[0-9]+)", -1},
  };
  // An independent Python rendering of lm-eval's RegexFilter and
  // exact_match (regexes_to_ignore, ignore_case).
  std::string script =
      "import re, json, sys\n"
      "def filt(p, g, r):\n"
      "  m = re.findall(p, r)\n"
      "  if not m: return '[invalid]'\n"
      "  m = m[g]\n"
      "  if isinstance(m, tuple):\n"
      "    m = [x for x in m if x]\n"
      "    m = m[0] if m else '[invalid]'\n"
      "  return m.strip()\n"
      "def norm(x):\n"
      "  for s in [',', '\\\\$', '(?s).*#### ', '\\\\.$']: x = re.sub(s, '', "
      "x)\n"
      "  return x.lower()\n"
      "data = json.load(sys.stdin) if False else json.loads(open(sys.argv[0] + "
      "'.json').read())\n"
      "out = []\n"
      "for p, g in data['filters']:\n"
      "  for r in data['responses']:\n"
      "    e = filt(p, g, r)\n"
      "    out.append([e] + [1.0 if norm(e) == norm(ref) else 0.0 for ref in "
      "data['references']])\n"
      "print(json.dumps(out))\n";
  base::Json input = base::Json::MakeObject();
  base::Json fj = base::Json::MakeArray();
  for (const auto& [p, g] : filters) {
    base::Json pair = base::Json::MakeArray();
    pair.Push(base::Json::String(p));
    pair.Push(base::Json::Int(g));
    fj.Push(std::move(pair));
  }
  base::Json rj = base::Json::MakeArray();
  for (const std::string& r : responses) rj.Push(base::Json::String(r));
  base::Json refj = base::Json::MakeArray();
  for (const std::string& r : references) refj.Push(base::Json::String(r));
  input.Set("filters", std::move(fj));
  input.Set("responses", std::move(rj));
  input.Set("references", std::move(refj));
  // RunPython writes the script to <tmp>/script.py; the data goes beside it
  // through a fixed path known to the script.
  TempDir data_dir;
  WriteTestFile(data_dir.Join("data.json"), input.Dump());
  const std::string loader =
      absl::StrCat("import sys\nsys.argv = ['", data_dir.Join("data"), "']\n");
  ASSERT_OK_AND_ASSIGN(base::Json expected,
                       base::ParseJson(testing::RunPython(loader + script)));
  size_t row = 0;
  int differences_between_filters = 0;
  for (const auto& [pattern, group] : filters) {
    for (const std::string& response : responses) {
      const base::Json& e = expected.array()[row++];
      const std::string extracted = ApplyRegexFilter(pattern, group, response);
      EXPECT_EQ(extracted, e.array()[0].string_value())
          << pattern << " on " << response;
      for (size_t r = 0; r < references.size(); ++r) {
        EXPECT_EQ(Gsm8kExactMatch(extracted, references[r]),
                  e.array()[r + 1].number_value())
            << pattern << " on " << response << " vs " << references[r];
      }
      if (extracted != "[invalid]") ++differences_between_filters;
    }
  }
  EXPECT_GT(differences_between_filters,
            10);  // the cases exercise real matches
  // Spot checks written by hand from the reference rules.
  EXPECT_EQ(ApplyRegexFilter("(-?[$0-9.,]{2,})|(-?[0-9]+)", -1,
                             "The answer is $1,200.00."),
            "$1,200.00.");
  EXPECT_EQ(Gsm8kExactMatch("$1,200.00.", "1,200"),
            0.0);  // lm-eval issue #3214
  EXPECT_EQ(Gsm8kExactMatch("1,200.", "x\n#### 1,200"), 1.0);
  // The trailing "." of the strict pattern needs one more character: a
  // final one-digit number never matches, a longer one loses its last digit.
  EXPECT_EQ(ApplyRegexFilter("The answer is (\\-?[0-9\\.\\,]+).", 0,
                             "The answer is 6"),
            "[invalid]");
  EXPECT_EQ(ApplyRegexFilter("The answer is (\\-?[0-9\\.\\,]+).", 0,
                             "The answer is 18"),
            "1");
}

TEST_F(Gsm8kTaskTest, RunScoresGenerationsInOneCall) {
  ASSERT_OK_AND_ASSIGN(auto task, CreateTask("gsm8k", options_));
  FakeRunner runner;
  runner.generate = [](const runners::GenerateRequest& r) -> std::string {
    if (r.prompt.ends_with("Question: How many?\nAnswer:"))
      return " 3 + 4 = 7\n#### 7";
    if (r.prompt.ends_with("Question: How much money?\nAnswer:"))
      return " It is 1200 dollars. #### 1200";
    if (r.prompt.ends_with("Question: Debt?\nAnswer:"))
      return " The debt is 5, so -5";
    return " I think it is 17.";
  };
  std::vector<size_t> docs = {0, 1, 2, 3};
  std::vector<SampleResult> samples;
  ASSERT_OK(task->Run(runner, docs, RunContext(), [&](SampleResult s) {
    samples.push_back(std::move(s));
    return absl::OkStatus();
  }));
  EXPECT_EQ(runner.generate_calls, 1);
  ASSERT_EQ(runner.gen_requests.size(), 4u);
  EXPECT_EQ(runner.gen_requests[0].max_new_tokens, 256);
  EXPECT_EQ(runner.gen_requests[0].sampling.temperature, 0);
  ASSERT_EQ(samples.size(), 4u);
  std::map<std::string, std::pair<double, double>> got;
  for (const SampleResult& s : samples) {
    got[s.doc_id] = {s.metrics.at("exact_match,strict-match"),
                     s.metrics.at("exact_match,flexible-extract")};
    EXPECT_EQ(s.generated_tokens, 3);
  }
  EXPECT_EQ(got["0"], std::make_pair(1.0, 1.0));
  EXPECT_EQ(got["1"],
            std::make_pair(1.0, 1.0));  // "1200" vs "1,200": commas are ignored
  EXPECT_EQ(got["2"], std::make_pair(0.0, 1.0));
  EXPECT_EQ(got["3"], std::make_pair(0.0, 0.0));
  std::vector<MetricResult> metrics = task->Aggregate(samples);
  ASSERT_EQ(metrics.size(), 2u);
  EXPECT_EQ(metrics[0].name, "exact_match,strict-match");
  EXPECT_DOUBLE_EQ(metrics[0].value, 0.5);
  EXPECT_NEAR(metrics[0].stderr_value, 0.28867513459481287,
              1e-15);  // stdev([1,1,0,0]) / 2
  EXPECT_DOUBLE_EQ(metrics[1].value, 0.75);
  EXPECT_NEAR(metrics[1].stderr_value, 0.25, 1e-15);  // stdev([1,1,1,0]) / 2
}

TEST_F(Gsm8kTaskTest, CancelledDocumentsAreNotEmitted) {
  ASSERT_OK_AND_ASSIGN(auto task, CreateTask("gsm8k_cot", options_));
  FakeRunner runner;
  std::atomic<bool> cancelled{false};
  // Results arrive from the last request down; the flag goes up before
  // requests 0 and 1 are answered.
  runner.raise_before_index_flag = &cancelled;
  runner.raise_before_index = 2;
  runner.generate = [](const runners::GenerateRequest&) {
    return std::string("The answer is 7.");
  };
  RunContext context;
  context.cancelled = &cancelled;
  std::vector<std::string> emitted;
  std::vector<size_t> docs = {0, 1, 2, 3};
  absl::Status status = task->Run(runner, docs, context, [&](SampleResult s) {
    emitted.push_back(s.doc_id);
    return absl::OkStatus();
  });
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kCancelled));
  // Documents 3 and 2 finished before the cancel reached the relay; the
  // relay forwards it within its polling period, so at most 0 and 1 go.
  EXPECT_THAT(emitted, ::testing::IsSubsetOf({"3", "2", "1", "0"}));
  EXPECT_GE(emitted.size(), 2u);
}

TEST_F(Gsm8kTaskTest, ScoreResponseAndChatTemplate) {
  ASSERT_OK_AND_ASSIGN(auto task, CreateTask("gsm8k_cot_llama", options_));
  ASSERT_OK_AND_ASSIGN(
      SampleResult s,
      task->ScoreResponse(3, "Reasoning...\nThe final answer is $18"));
  EXPECT_EQ(s.metrics.at("exact_match,strict-match"), 1.0);
  EXPECT_EQ(s.target, "18");
  EXPECT_THAT(task->ScoreResponse(4, "x"),
              StatusIs(absl::StatusCode::kOutOfRange));

  options_.chat_template = true;
  options_.shots = 1;
  ASSERT_OK_AND_ASSIGN(auto chat, CreateTask("gsm8k_cot_llama", options_));
  FakeRunner runner;
  std::vector<size_t> docs = {0};
  ASSERT_OK(chat->Run(runner, docs, RunContext(),
                      [](SampleResult) { return absl::OkStatus(); }));
  ASSERT_EQ(runner.gen_requests.size(), 1u);
  const std::string& prompt = runner.gen_requests[0].prompt;
  EXPECT_TRUE(prompt.starts_with("<|user|>Given the following problem"))
      << prompt;
  EXPECT_NE(
      prompt.find("problem.\n<|assistant|>There are 15 trees originally."),
      std::string::npos)
      << prompt;
  EXPECT_TRUE(prompt.ends_with(
      "Problem: How many?\nYour response should end with \"The final answer is "
      "[answer]\" "
      "where [answer] is the response to the problem.\n<|assistant|>"))
      << prompt;
  EXPECT_THAT(runner.gen_requests[0].stop, ::testing::Contains("<|eot_id|>"));
}

}  // namespace
}  // namespace evald::tasks
