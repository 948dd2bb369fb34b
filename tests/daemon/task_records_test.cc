// The one conversion between task results and stored records round-trips a
// sample whole, so a resumed run aggregates what an uninterrupted one would.
#include "daemon/task_records.h"

#include <gtest/gtest.h>

#include "google/protobuf/util/message_differencer.h"

namespace evald::daemon {
namespace {

tasks::SampleResult FullSample() {
  tasks::SampleResult r;
  r.doc_index = 41;
  r.doc_id = "anatomy/7";
  r.subtask = "anatomy";
  r.prompt = "Question?\nAnswer:";
  r.target = "B";
  r.responses = {"-1.5 true", "-0.25 false"};
  r.metrics = {{"acc", 1.0}, {"acc_norm", 0.0}};
  r.extracted = "B";
  r.prompt_tokens = 120;
  r.cached_tokens = 100;
  r.generated_tokens = 7;
  r.wall_seconds = 0.125;
  r.error = "";
  r.judge.push_back({.order = "candidate_first",
                     .prompt = "Judge this",
                     .raw = {"no verdict", "[[A]]"},
                     .verdict = "A",
                     .error = ""});
  r.lm_eval_json =
      R"({"doc":{"question":"Q?"},"resps":[[-1.5,true]],"arguments":[["c"," B"]]})";
  return r;
}

TEST(TaskRecordsTest, SamplesRoundTripWhole) {
  const tasks::SampleResult original = FullSample();
  const SampleOrigin origin{
      .run_id = "r1", .attempt = 3, .task = "mmlu", .finished_unix_ms = 99};
  const v1::SampleRecord record = ToSampleRecord(origin, original);
  EXPECT_EQ(record.run_id(), "r1");
  EXPECT_EQ(record.attempt(), 3);
  EXPECT_EQ(record.task(), "mmlu");
  EXPECT_EQ(record.doc_index(), 41);
  EXPECT_EQ(record.finished_unix_ms(), 99);
  const tasks::SampleResult back = FromSampleRecord(record);
  EXPECT_EQ(back.doc_index, original.doc_index);
  EXPECT_EQ(back.doc_id, original.doc_id);
  EXPECT_EQ(back.subtask, original.subtask);
  EXPECT_EQ(back.prompt, original.prompt);
  EXPECT_EQ(back.target, original.target);
  EXPECT_EQ(back.responses, original.responses);
  EXPECT_EQ(back.metrics, original.metrics);
  EXPECT_EQ(back.extracted, original.extracted);
  EXPECT_EQ(back.prompt_tokens, original.prompt_tokens);
  EXPECT_EQ(back.cached_tokens, original.cached_tokens);
  EXPECT_EQ(back.generated_tokens, original.generated_tokens);
  EXPECT_EQ(back.wall_seconds, original.wall_seconds);
  EXPECT_EQ(back.error, original.error);
  ASSERT_EQ(back.judge.size(), 1u);
  EXPECT_EQ(back.judge[0].order, "candidate_first");
  EXPECT_EQ(back.judge[0].raw, original.judge[0].raw);
  EXPECT_EQ(back.judge[0].verdict, "A");
  EXPECT_EQ(record.lm_eval_json(), original.lm_eval_json);
  EXPECT_EQ(back.lm_eval_json, original.lm_eval_json);
  // And the record made again from the result it gave is the same record.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      ToSampleRecord(origin, back), record));
}

TEST(TaskRecordsTest, MetricsBecomeTaskScores) {
  const std::vector<tasks::MetricResult> metrics = {
      {.name = "acc",
       .group = "stem",
       .value = 0.5,
       .stderr_value = 0.1,
       .count = 20,
       .aggregation = "micro"},
      {.name = "inst_level_strict_acc",
       .value = 0.75,
       .count = 8,
       .stderr_na = true}};
  const v1::TaskScores scores = ToTaskScores("r1", "mmlu", metrics);
  EXPECT_EQ(scores.run_id(), "r1");
  EXPECT_EQ(scores.task(), "mmlu");
  ASSERT_EQ(scores.metrics_size(), 2);
  EXPECT_EQ(scores.metrics(0).group(), "stem");
  EXPECT_EQ(scores.metrics(0).std_error(), 0.1);
  EXPECT_EQ(scores.metrics(0).aggregation(), "micro");
  EXPECT_TRUE(scores.metrics(1).std_error_na());
  EXPECT_EQ(scores.metrics(1).count(), 8);
}

}  // namespace
}  // namespace evald::daemon
