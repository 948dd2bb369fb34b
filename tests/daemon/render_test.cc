#include "daemon/render.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "daemon/queries.h"
#include "tests/testing/status_matchers.h"

namespace evald::daemon {
namespace {

using ::evald::testing::StatusIs;
using ::testing::HasSubstr;

TEST(RenderTest, TablesAlignColumns) {
  EXPECT_EQ(FormatTable({{"A", "BBB"}, {"CCCC", "D"}}), "A     BBB\nCCCC  D\n");
}

TEST(RenderTest, ProgressLineSumsTasksIntoTheBar) {
  v1::WatchEvent event;
  event.mutable_run()->set_id("r1");
  event.mutable_run()->set_state(v1::RUNNING);
  auto* p = event.mutable_run()->add_progress();
  p->set_task("mmlu");
  p->set_done(3);
  p->set_total(4);
  p = event.mutable_run()->add_progress();
  p->set_task("gsm8k");
  p->set_done(0);
  p->set_total(4);
  event.set_tokens_per_s(12.5);
  event.set_prefix_cache_hit_rate(0.5);
  event.set_eta_s(-1);
  EXPECT_EQ(FormatProgressLine(event),
            "r1 running | mmlu 3/4 | gsm8k 0/4 | 12.5 tok/s | cache 50%");
  EXPECT_THAT(FormatProgressLine(event, 8),
              HasSubstr("r1 running [###.....] |"));
  // A run with a judge shows the grading beside the candidate's progress.
  event.set_judge_graded(2);
  event.set_judge_queued(1);
  EXPECT_EQ(FormatProgressLine(event),
            "r1 running | mmlu 3/4 | gsm8k 0/4 | 12.5 tok/s | cache 50% | "
            "judge 2 graded, 1 waiting");
}

TEST(RenderTest, ShardedRunsShowTheirShards) {
  v1::WatchEvent event;
  v1::RunRecord& run = *event.mutable_run();
  run.set_id("r2");
  run.set_state(v1::RUNNING);
  auto* p = run.add_progress();
  p->set_task("gsm8k");
  p->set_done(5);
  p->set_total(8);
  const v1::ShardStatus states[] = {v1::SHARD_DONE, v1::SHARD_RUNNING,
                                    v1::SHARD_PENDING, v1::SHARD_DONE};
  for (int i = 0; i < 4; ++i) {
    v1::ShardState* s = run.add_shards();
    s->set_index(i);
    s->set_status(states[i]);
    s->set_documents(2);
    s->set_done(states[i] == v1::SHARD_DONE ? 2 : i == 1 ? 1 : 0);
    if (states[i] != v1::SHARD_PENDING) {
      s->set_node(absl::StrCat("node", i));
      s->set_slurm_job_id(absl::StrCat("41_", i));
      s->set_slurm_state(states[i] == v1::SHARD_DONE ? "COMPLETED" : "RUNNING");
    }
  }
  run.mutable_shards(1)->set_failures(1);
  // No tokens/s for a sharded run: its engines are on the compute nodes.
  EXPECT_EQ(FormatProgressLine(event),
            "r2 running | gsm8k 5/8 | shards 1 pending, 1 running, 2 done");
  EXPECT_EQ(FormatShards(run),
            "  SHARD  STATE    NODE   SLURM JOB  SLURM STATE  DONE  FAILURES\n"
            "  0      done     node0  41_0       COMPLETED    2/2   0\n"
            "  1      running  node1  41_1       RUNNING      1/2   1\n"
            "  2      pending  -      -          -            0/2   0\n"
            "  3      done     node3  41_3       COMPLETED    2/2   0\n");
  EXPECT_EQ(FormatShards(v1::RunRecord()), "");
}

TEST(RenderTest, ResultsShowDriftAndErrors) {
  v1::GetResultsResponse results;
  results.mutable_run()->set_id("r2");
  results.mutable_run()->set_state(v1::FAILED);
  results.mutable_run()->set_drifted(true);
  results.mutable_run()->set_error("task 'mmlu': boom");
  auto* scores = results.add_scores();
  scores->set_task("mmlu");
  auto* m = scores->add_metrics();
  m->set_name("acc");
  m->set_value(0.25);
  m->set_std_error(0.125);
  m->set_count(8);
  const std::string text = FormatResults(results);
  EXPECT_THAT(text, HasSubstr("failed"));
  EXPECT_THAT(text, HasSubstr("DRIFTED"));
  EXPECT_THAT(text, HasSubstr("error: task 'mmlu': boom"));
  EXPECT_THAT(text, HasSubstr("0.2500  ± 0.1250  8"));
  EXPECT_THAT(ToJson(results), HasSubstr("\"state\":\"FAILED\""));
}

TEST(QueriesTest, SinceDurations) {
  EXPECT_THAT(ParseSinceMillis("7d"),
              ::evald::testing::IsOkAndHolds(7 * 86400 * 1000LL));
  EXPECT_THAT(ParseSinceMillis("12h"),
              ::evald::testing::IsOkAndHolds(12 * 3600 * 1000LL));
  EXPECT_THAT(ParseSinceMillis("90s"),
              ::evald::testing::IsOkAndHolds(90 * 1000LL));
  EXPECT_THAT(ParseSinceMillis("7w"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseSinceMillis("d"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseSinceMillis("-1d"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace evald::daemon
