#include "daemon/render.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
