// The ifeval task over a small dataset written by the test: loading (both
// the official and the Hugging Face kwargs layout), errors that name file,
// line and field, prompts, scoring, Run() against an in-process runner, and
// the four aggregate metrics (expected values worked out by hand below).
#include "tasks/ifeval/ifeval_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "runners/chat_prompt.h"
#include "tasks/task.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::tasks::ifeval {
namespace {

using ::evald::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kDataset[] =
    R"({"key": 1, "prompt": "Write without commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]})"
    "\n"
    R"({"key": 2, "prompt": "Give a title and end with bye.", "instruction_id_list": ["startend:end_checker", "detectable_format:title"], "kwargs": [{"end_phrase": "Bye"}, {}]})"
    "\n"
    R"({"key": 3, "prompt": "Mention the sun.", "instruction_id_list": ["keywords:existence"], "kwargs": [{"keywords": ["sun"], "num_words": null, "relation": null, "end_phrase": null}]})"
    "\n";

class IfevalTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string punkt = dir_.Join("datasets/punkt/english");
    testing::WriteTestFile(punkt + "/abbrev_types.txt", "dr\n");
    testing::WriteTestFile(punkt + "/collocations.tab", "");
    testing::WriteTestFile(punkt + "/sent_starters.txt", "the\n");
    testing::WriteTestFile(punkt + "/ortho_context.tab", "the\t50\n");
    data_dir_ = dir_.Join("datasets/ifeval");
    testing::WriteTestFile(data_dir_ + "/input_data.jsonl", kDataset);
  }

  absl::StatusOr<std::unique_ptr<Task>> Make(
      const std::string& dataset = kDataset) {
    testing::WriteTestFile(data_dir_ + "/input_data.jsonl", dataset);
    TaskOptions options;
    options.data_path = data_dir_;
    return CreateIfevalTask(options);
  }

  static const MetricResult& Find(const std::vector<MetricResult>& metrics,
                                  const std::string& name) {
    for (const MetricResult& m : metrics) {
      if (m.name == name) return m;
    }
    ADD_FAILURE() << "no metric " << name;
    return metrics.front();
  }

  testing::TempDir dir_;
  std::string data_dir_;
};

TEST_F(IfevalTaskTest, LoadsDocsAndRecordsHashes) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Task> task, Make());
  EXPECT_THAT(task->DocIds(), ElementsAre("1", "2", "3"));
  const TaskInfo& info = task->info();
  EXPECT_EQ(info.name, "ifeval");
  EXPECT_EQ(info.version, "4.0");
  EXPECT_EQ(info.shots, 0);
  EXPECT_THAT(info.generation_settings, HasSubstr("max 1280"));
  ASSERT_EQ(info.datasets.size(), 5u);  // the JSONL and the four Punkt files
  EXPECT_THAT(info.datasets[0].path, HasSubstr("input_data.jsonl"));
  EXPECT_EQ(info.datasets[0].sha256.size(), 64u);
  EXPECT_THAT(info.datasets[4].path,
              HasSubstr("punkt/english/sent_starters.txt"));
  EXPECT_EQ(info.prompt_format_hash.size(), 64u);
}

TEST_F(IfevalTaskTest, PromptIsTheRawPrompt) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Task> task, Make());
  ASSERT_OK_AND_ASSIGN(PromptView view, task->BuildPrompt(1));
  EXPECT_EQ(view.doc_id, "2");
  EXPECT_EQ(view.context, "Give a title and end with bye.");
  EXPECT_TRUE(view.stop.empty());
  EXPECT_EQ(view.max_new_tokens, 1280);
  EXPECT_THAT(task->BuildPrompt(3), StatusIs(absl::StatusCode::kOutOfRange));
}

TEST_F(IfevalTaskTest, ScoresAndAggregates) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Task> task, Make());
  std::vector<SampleResult> samples;
  // Doc 1: no comma -> strict [1], loose [1].
  ASSERT_OK_AND_ASSIGN(SampleResult s1, task->ScoreResponse(0, "hello world"));
  // Doc 2: ends with "extra", so end_checker fails strictly but passes once
  // the last line is removed; the title passes: strict [0,1], loose [1,1].
  ASSERT_OK_AND_ASSIGN(SampleResult s2,
                       task->ScoreResponse(1, "<<T>>\nsee you, bye\nExtra"));
  // Doc 3: no "sun": strict [0], loose [0].
  ASSERT_OK_AND_ASSIGN(SampleResult s3, task->ScoreResponse(2, "Rain today."));
  EXPECT_EQ(s2.doc_id, "2");
  EXPECT_EQ(s2.metrics["prompt_level_strict_acc"], 0);
  EXPECT_EQ(s2.metrics["prompt_level_loose_acc"], 1);
  EXPECT_EQ(s2.metrics["inst_strict_followed"], 1);
  EXPECT_THAT(s2.extracted, HasSubstr("startend:end_checker strict=0 loose=1"));
  samples = {s1, s2, s3};
  std::vector<MetricResult> metrics = task->Aggregate(samples);
  // Prompt strict [1,0,0]: mean 1/3; sample sd sqrt((4/9+1/9+1/9)/2) =
  // sqrt(1/3), over sqrt(3) gives 1/3. Prompt loose [1,1,0]: 2/3, same stderr.
  // Instructions: strict 2 of 4, loose 3 of 4.
  EXPECT_NEAR(Find(metrics, "prompt_level_strict_acc").value, 1.0 / 3, 1e-12);
  EXPECT_NEAR(Find(metrics, "prompt_level_strict_acc").stderr_value, 1.0 / 3,
              1e-12);
  EXPECT_NEAR(Find(metrics, "prompt_level_loose_acc").value, 2.0 / 3, 1e-12);
  EXPECT_NEAR(Find(metrics, "prompt_level_loose_acc").stderr_value, 1.0 / 3,
              1e-12);
  EXPECT_NEAR(Find(metrics, "inst_level_strict_acc").value, 0.5, 1e-12);
  EXPECT_NEAR(Find(metrics, "inst_level_loose_acc").value, 0.75, 1e-12);
  EXPECT_EQ(Find(metrics, "inst_level_loose_acc").count, 4);
  EXPECT_EQ(Find(metrics, "prompt_level_loose_acc").count, 3);
  // lm-eval reports no stderr for the flattened instruction-level means.
  EXPECT_TRUE(Find(metrics, "inst_level_strict_acc").stderr_na);
  EXPECT_TRUE(Find(metrics, "inst_level_loose_acc").stderr_na);
  EXPECT_FALSE(Find(metrics, "prompt_level_strict_acc").stderr_na);
}

TEST_F(IfevalTaskTest, EmptyResponseFollowsNothing) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Task> task, Make());
  // "no comma" holds for an empty text, but a blank response never counts.
  ASSERT_OK_AND_ASSIGN(SampleResult s, task->ScoreResponse(0, "  \n"));
  EXPECT_EQ(s.metrics["prompt_level_strict_acc"], 0);
  EXPECT_EQ(s.metrics["prompt_level_loose_acc"], 0);
}

TEST_F(IfevalTaskTest, BadLinesNameFileLineAndField) {
  std::string unknown =
      std::string(kDataset) +
      R"({"key": 4, "prompt": "p", "instruction_id_list": ["keywords:nope"], "kwargs": [{}]})"
      "\n";
  EXPECT_THAT(Make(unknown),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("input_data.jsonl: line 4"),
                             HasSubstr("instruction_id_list[0]"),
                             HasSubstr("keywords:nope"))));
  std::string bad_type =
      R"({"key": 5, "prompt": "p", "instruction_id_list": ["length_constraints:number_words"], "kwargs": [{"num_words": "many", "relation": "at least"}]})"
      "\n";
  EXPECT_THAT(Make(bad_type),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("line 1"), HasSubstr("kwargs[0]"),
                             HasSubstr("num_words"))));
  EXPECT_THAT(Make("{\"key\": 1, \"prompt\": \"p\"}\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("instruction_id_list")));
  EXPECT_THAT(
      Make(std::string(kDataset) + "{not json\n"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 4")));
  EXPECT_THAT(Make(std::string(kDataset) + kDataset),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("duplicate key 1")));
}

TEST_F(IfevalTaskTest, FieldsOfTheWrongShapeSayWhatWasFound) {
  EXPECT_THAT(
      Make(
          R"({"key": "1", "prompt": "p", "instruction_id_list": [], "kwargs": []})"
          "\n"),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr(
              "input_data.jsonl: line 1: field 'key': expected an integer, "
              R"(got "1")")));
  EXPECT_THAT(
      Make(
          R"({"key": 1, "prompt": "p", "instruction_id_list": [7], "kwargs": [{}]})"
          "\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(
                   "line 1: field 'instruction_id_list[0]': expected a string, "
                   "got 7")));
  EXPECT_THAT(
      Make(
          R"({"key": 1, "prompt": "p", "instruction_id_list": ["punctuation:no_comma"], )"
          R"("kwargs": []})"
          "\n"),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("line 1: field 'kwargs': 0 entries for 1 instructions")));
  EXPECT_THAT(Make("[1]\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 1: expected an object, got [1]")));
}

TEST_F(IfevalTaskTest, InvalidUtf8IsRefusedNamingLineAndField) {
  EXPECT_THAT(
      Make(std::string(kDataset) +
           "{\"key\": 4, \"prompt\": \"caf\xc3\", \"instruction_id_list\": [], "
           "\"kwargs\": []}\n"),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr(
              "input_data.jsonl: line 4: field 'prompt' is not valid UTF-8 "
              "(byte 3 of its value)")));
  EXPECT_THAT(
      Make("{\"key\": 1, \"prompt\": \"p\", \"instruction_id_list\": "
           "[\"keywords:existence\"], "
           "\"kwargs\": [{\"keywords\": [\"sun\", \"m\xedoon\"]}]}\n"),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr(
              "line 1: field 'kwargs[0].keywords[1]' is not valid UTF-8")));
}

TEST_F(IfevalTaskTest, MissingPunktIsReported) {
  TaskOptions options;
  options.data_path = data_dir_ + "/input_data.jsonl";
  EXPECT_TRUE(
      CreateIfevalTask(options).ok());  // found via <dir>/../punkt/english
  EXPECT_THAT(CreateIfevalTask(options, dir_.Join("nowhere")),
              StatusIs(absl::StatusCode::kNotFound));
  testing::TempDir lonely;
  testing::WriteTestFile(lonely.Join("ifeval/input_data.jsonl"), kDataset);
  options.data_path = lonely.Join("ifeval");
  EXPECT_THAT(CreateIfevalTask(options),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("punkt")));
}

TEST_F(IfevalTaskTest, RegisteredByName) {
  EXPECT_THAT(RegisteredTasks(), Contains("ifeval"));
  TaskOptions options;
  options.data_path = data_dir_;
  options.limit = 2;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Task> task,
                       CreateTask("ifeval", options));
  EXPECT_EQ(task->DocIds().size(), 2u);
  // The language detector is part of the prompt format: cld2 and langdetect
  // runs are told apart by their fingerprints.
  options.options["language_id"] = "cld2";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Task> cld2,
                       CreateTask("ifeval", options));
  EXPECT_THAT(cld2->info().generation_settings, HasSubstr("language id cld2"));
  options.options["language_id"] = "langdetect";
  options.options["langdetect_path"] = data_dir_ + "/no-such-dir";
  EXPECT_THAT(CreateTask("ifeval", options).status().message(),
              HasSubstr("langdetect profiles not found"));
  options.options = {{"punkt_pth", "x"}};
  EXPECT_THAT(CreateTask("ifeval", options).status().message(),
              HasSubstr("unknown option 'punkt_pth'"));
}

// Answers each prompt with a fixed text chosen by the prompt, and records the
// requests.
class ScriptedRunner : public runners::Runner {
 public:
  std::string model_name() const override { return "scripted"; }
  int max_context() const override { return 4096; }
  absl::Status Loglikelihood(
      absl::Span<const runners::LoglikelihoodRequest>,
      const runners::CallOptions&,
      const runners::ResultCallback<runners::LoglikelihoodResult>&) override {
    return absl::UnimplementedError("scripted runner: loglikelihood");
  }
  absl::Status Generate(absl::Span<const runners::GenerateRequest> requests,
                        const runners::CallOptions&,
                        const runners::ResultCallback<runners::GenerateResult>&
                            on_result) override {
    // Reverse order: results may arrive in any order.
    for (size_t i = requests.size(); i-- > 0;) {
      // Chat messages rendered with this runner's template.
      seen.push_back(requests[i]);
      seen.back().prompt = runners::RenderedPrompt(*this, requests[i]).value();
      runners::GenerateResult r;
      r.text = seen.back().prompt.ends_with("Mention the sun.")
                   ? "Clouds, no light."
                   : "no commas <<t>> bye";
      r.token_ids = {1, 2, 3};
      r.prompt_tokens = 7;
      r.finish_reason = runners::FinishReason::kEos;
      on_result(i, r);
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ApplyChatTemplate(
      absl::Span<const runners::ChatMessage> messages, bool) const override {
    std::string out;
    for (const auto& m : messages) out += "<" + m.role + ">" + m.content;
    return out + "<assistant>";
  }
  runners::RunnerStats stats() const override { return {}; }
  std::vector<runners::GenerateRequest> seen;
};

TEST_F(IfevalTaskTest, RunGeneratesGreedilyAndScores) {
  TaskOptions options;
  options.data_path = data_dir_;
  options.system_instruction = "Be brief.";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Task> task, CreateIfevalTask(options));
  ScriptedRunner runner;
  std::vector<SampleResult> samples;
  std::vector<size_t> indices = {0, 2};
  ASSERT_OK(task->Run(runner, indices, RunContext{}, [&](SampleResult s) {
    samples.push_back(std::move(s));
    return absl::OkStatus();
  }));
  ASSERT_EQ(runner.seen.size(), 2u);
  for (const auto& r : runner.seen) {
    EXPECT_EQ(r.max_new_tokens, 1280);
    EXPECT_TRUE(r.stop.empty());
    EXPECT_EQ(r.sampling.temperature, 0);
  }
  // The plain-text context of `evalctl prompt` is what the runner gets.
  ASSERT_OK_AND_ASSIGN(PromptView view, task->BuildPrompt(0));
  EXPECT_EQ(runner.seen[1].prompt, view.context);
  EXPECT_TRUE(view.context.starts_with("Be brief."));
  EXPECT_TRUE(view.context.ends_with("Write without commas."));
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].doc_id, "3");
  EXPECT_EQ(samples[0].metrics["prompt_level_strict_acc"],
            0);  // no "sun" in the answer
  EXPECT_EQ(samples[0].generated_tokens, 3);
  EXPECT_EQ(samples[1].doc_id, "1");
  EXPECT_EQ(samples[1].metrics["prompt_level_strict_acc"], 1);

  // A failing sink stops the run with its status.
  EXPECT_THAT(
      task->Run(runner, indices, RunContext{},
                [](SampleResult) { return absl::DataLossError("disk full"); }),
      StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(IfevalTaskTest, ChatTemplateWrapsThePromptAsOneUserTurn) {
  TaskOptions options;
  options.data_path = data_dir_;
  options.chat_template = true;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Task> task, CreateIfevalTask(options));
  ScriptedRunner runner;
  std::vector<size_t> indices = {0};
  ASSERT_OK(task->Run(runner, indices, RunContext{},
                      [](SampleResult) { return absl::OkStatus(); }));
  ASSERT_EQ(runner.seen.size(), 1u);
  EXPECT_EQ(runner.seen[0].prompt, "<user>Write without commas.<assistant>");
}

}  // namespace
}  // namespace evald::tasks::ifeval
