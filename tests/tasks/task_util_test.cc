// File: tests/tasks/task_util_test.cc
#include "tasks/task_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "tests/tasks/task_test_util.h"

namespace evald::tasks {
namespace {

TEST(MaybeDelimitTest, FollowsLmEvalRules) {
  EXPECT_EQ(MaybeDelimit("sys", "desc", "\n\n"), "sys\n\ndesc");
  EXPECT_EQ(MaybeDelimit("sys ", "desc", "\n\n"), "sys desc");
  EXPECT_EQ(MaybeDelimit("sys", "\ndesc", "\n\n"), "sys\ndesc");
  EXPECT_EQ(MaybeDelimit("", "desc", "\n\n"), "desc");
  EXPECT_EQ(MaybeDelimit("sys", "", "\n\n"), "sys");
}

TEST(PromptTest, PlainAndChatRendering) {
  // Built in one initializer (member-wise assignment of short literals trips
  // a false -Wrestrict in GCC 12).
  const PromptParts parts{.description = std::string("D\n\n"),
                          .shots = {{"q1", "a1"}, {"q2", "a2"}},
                          .question = std::string("q")};
  EXPECT_EQ(RenderPlainContext(parts, ""), "D\n\nq1 a1\n\nq2 a2\n\nq");
  EXPECT_EQ(RenderPlainContext(parts, "Be brief."),
            "Be brief.\n\nD\n\nq1 a1\n\nq2 a2\n\nq");
  auto multi = BuildChatMessages(parts, "S", true);
  ASSERT_EQ(multi.size(), 6u);
  EXPECT_EQ(multi[0].role, "system");
  EXPECT_EQ(multi[0].content, "S\n\nD\n\n");
  EXPECT_EQ(multi[1].content, "q1");
  EXPECT_EQ(multi[2].role, "assistant");
  EXPECT_EQ(multi[2].content, "a1");
  EXPECT_EQ(multi[5].content, "q");
  auto single = BuildChatMessages(parts, "", false);
  ASSERT_EQ(single.size(), 2u);
  EXPECT_EQ(single[1].content, "q1 a1\n\nq2 a2\n\nq");
}

TEST(StatsTest, MeanStderrAndPooledStderrMatchPython) {
  const std::vector<double> a = {1, 0, 1, 1, 0, 1, 0};
  const std::vector<double> b = {0, 0, 1};
  const std::vector<double> c = {1, 1, 1, 0, 1};
  std::string script =
      "import math, statistics\n"
      "def se(x): return statistics.stdev(x) / math.sqrt(len(x))\n"
      "xs = [[1,0,1,1,0,1,0],[0,0,1],[1,1,1,0,1]]\n"
      "ses = [se(x) for x in xs]; ns = [len(x) for x in xs]\n"
      "pooled = math.sqrt(sum((n-1)*s*s*n for n, s in zip(ns, ses)) / (sum(ns) "
      "- len(ns)) / sum(ns))\n"
      "print(repr(statistics.mean(xs[0])), repr(ses[0]), repr(pooled))\n";
  std::istringstream expected(testing::RunPython(script));
  double mean, stderr0, pooled;
  expected >> mean >> stderr0 >> pooled;
  EXPECT_DOUBLE_EQ(Mean(a), mean);
  EXPECT_NEAR(MeanStderr(a), stderr0, 1e-15);
  EXPECT_NEAR(
      PooledStderr({MeanStderr(a), MeanStderr(b), MeanStderr(c)}, {7, 3, 5}),
      pooled, 1e-15);
  EXPECT_EQ(MeanStderr(std::vector<double>{1.0}), 0.0);
}

}  // namespace
}  // namespace evald::tasks
