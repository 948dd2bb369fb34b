// Compare and gate over runs built in memory: verdicts for A/A, a real
// regression, a small (not significant) drop, too few documents and
// environment drift; the rules parser's errors; JUnit XML checked by an XML
// parser (Python's xml.etree when /usr/bin/python3 exists).
#include "report/compare.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::report {
namespace {

using ::testing::HasSubstr;

// A run of one task "mmlu" with `n` documents; doc i is right when
// right(i). Subjects alternate between two names.
RunData MakeRun(const std::string& id, int n,
                const std::function<bool(int)>& right) {
  RunData data;
  data.run.set_id(id);
  data.run.mutable_spec()->add_tasks()->set_name("mmlu");
  data.run.mutable_fingerprint()->set_driver_version("580.1");
  auto* task = data.run.mutable_fingerprint()->add_tasks();
  task->set_name("mmlu");
  auto* file = task->add_dataset_files();
  file->set_name("test.csv");
  file->set_sha256("aaaa");
  data.run.mutable_phases()->set_total_s(100);
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    v1::SampleRecord s;
    s.set_run_id(id);
    s.set_task("mmlu");
    s.set_doc_id(absl::StrCat(i % 2 ? "anatomy/" : "virology/", i));
    s.set_subtask(i % 2 ? "anatomy" : "virology");
    (*s.mutable_metrics())["acc"] = right(i) ? 1 : 0;
    sum += right(i);
    data.samples.push_back(s);
  }
  v1::TaskScores scores;
  scores.set_task("mmlu");
  auto* m = scores.add_metrics();
  m->set_name("acc");
  m->set_value(sum / n);
  data.scores.push_back(scores);
  return data;
}

TEST(CompareTest, IdenticalRunsPassWithPOne) {
  auto right = [](int i) { return i % 3 != 0; };
  RunData a = MakeRun("a", 300, right);
  RunData b = MakeRun("b", 300, right);
  ASSERT_OK_AND_ASSIGN(CompareResult cmp, Compare(a, b));
  EXPECT_TRUE(cmp.differences.empty());
  ASSERT_EQ(cmp.metrics.size(), 3u);  // task + two subjects
  for (const MetricComparison& m : cmp.metrics) {
    EXPECT_EQ(m.difference, 0.0);
    EXPECT_EQ(m.p_value, 1.0);
    EXPECT_EQ(m.test, "mcnemar");
  }
  EXPECT_EQ(cmp.metrics[0].shared, 300);
  EXPECT_TRUE(cmp.flips.empty());
  ASSERT_OK_AND_ASSIGN(GateResult gate, EvaluateGate(b, a, GateRules(), false));
  EXPECT_EQ(gate.overall, Verdict::kPass);
}

TEST(CompareTest, SignificantRegressionFailsAndFlipsAreListed) {
  RunData base = MakeRun("base", 300, [](int i) { return i % 3 != 0; });
  // 40 right answers lost, 2 gained: McNemar p ~ 1e-9.
  RunData run = MakeRun("run", 300, [](int i) {
    if (i == 0 || i == 3) return true;
    return i % 3 != 0 && i % 5 != 1;
  });
  ASSERT_OK_AND_ASSIGN(GateResult gate,
                       EvaluateGate(run, base, GateRules(), false));
  EXPECT_EQ(gate.overall, Verdict::kFail);
  ASSERT_EQ(gate.rules.size(), 1u);
  EXPECT_EQ(gate.rules[0].name, "mmlu/acc");
  EXPECT_THAT(gate.rules[0].detail, HasSubstr("after Holm < alpha"));
  const MetricComparison& m = gate.comparison.metrics[0];
  EXPECT_EQ(m.wrong_to_right, 2);
  EXPECT_GT(m.right_to_wrong, 20);
  EXPECT_LT(m.p_value, 1e-4);
  EXPECT_LT(m.interval.high, 0.0);
  EXPECT_EQ(gate.comparison.flips.size(),
            static_cast<size_t>(m.right_to_wrong + m.wrong_to_right));
}

TEST(CompareTest, SmallDropIsInconclusiveAndFewDocumentsToo) {
  RunData base = MakeRun("base", 200, [](int i) { return i % 2 == 0; });
  // 6 lost, 1 gained: a 2.5-point drop; McNemar p = 2 * 8 / 128 = 0.125.
  RunData run = MakeRun("run", 200, [](int i) {
    if (i == 1) return true;
    return i % 2 == 0 && !(i >= 10 && i < 22);
  });
  ASSERT_OK_AND_ASSIGN(GateResult gate,
                       EvaluateGate(run, base, GateRules(), false));
  EXPECT_EQ(gate.overall, Verdict::kInconclusive);
  EXPECT_NEAR(gate.comparison.metrics[0].p_value, 0.125, 1e-12);

  GateRules strict;
  strict.metrics.push_back(
      {"mmlu", "acc", "", 0.05});  // a 5-point margin: passes
  ASSERT_OK_AND_ASSIGN(GateResult lenient,
                       EvaluateGate(run, base, strict, false));
  EXPECT_EQ(lenient.overall, Verdict::kPass);

  RunData tiny_base = MakeRun("b", 6, [](int) { return true; });
  RunData tiny_run = MakeRun("r", 6, [](int) { return false; });
  ASSERT_OK_AND_ASSIGN(GateResult tiny,
                       EvaluateGate(tiny_run, tiny_base, GateRules(), false));
  EXPECT_EQ(tiny.overall, Verdict::kInconclusive);
  EXPECT_THAT(tiny.rules[0].detail, HasSubstr("only 6 shared documents"));
}

TEST(CompareTest, DriftFailsClosedUnlessAllowedAndWallTimeRule) {
  auto right = [](int i) { return i % 4 != 0; };
  RunData base = MakeRun("base", 100, right);
  RunData run = MakeRun("run", 100, right);
  run.run.mutable_fingerprint()
      ->mutable_tasks(0)
      ->mutable_dataset_files(0)
      ->set_sha256("bbbb");
  run.run.mutable_fingerprint()->set_driver_version("590.2");
  ASSERT_OK_AND_ASSIGN(GateResult closed,
                       EvaluateGate(run, base, GateRules(), false));
  EXPECT_EQ(closed.overall, Verdict::kFail);
  ASSERT_EQ(closed.drift.size(), 2u);
  EXPECT_EQ(closed.drift[0].field, "driver");
  EXPECT_EQ(closed.drift[1].kind, "dataset");
  ASSERT_OK_AND_ASSIGN(GateResult allowed,
                       EvaluateGate(run, base, GateRules(), true));
  EXPECT_EQ(allowed.overall, Verdict::kPass);

  RunData slow = MakeRun("slow", 100, right);
  slow.run.mutable_phases()->set_total_s(250);
  GateRules rules;
  rules.max_wall_time_ratio = 2.0;
  ASSERT_OK_AND_ASSIGN(GateResult timed,
                       EvaluateGate(slow, base, rules, false));
  EXPECT_EQ(timed.overall, Verdict::kFail);
  EXPECT_EQ(timed.rules.back().name, "wall_time");
  EXPECT_THAT(timed.rules.back().detail, HasSubstr("ratio 2.50"));
}

TEST(CompareTest, NoSharedTaskOrDocumentIsAnError) {
  RunData a = MakeRun("a", 10, [](int) { return true; });
  RunData other = a;
  other.run.mutable_spec()->mutable_tasks(0)->set_name("gsm8k");
  EXPECT_EQ(Compare(a, other).status().code(), absl::StatusCode::kNotFound);
  RunData shifted = a;
  for (auto& s : shifted.samples) s.set_doc_id("x" + s.doc_id());
  EXPECT_THAT(Compare(a, shifted).status().message(),
              HasSubstr("share no scored document"));
  GateRules rules;
  rules.metrics.push_back({"mmlu", "exact_match", "", 0.01});
  EXPECT_THAT(EvaluateGate(a, a, rules, false).status().message(),
              HasSubstr("gate rule 'mmlu/exact_match': no such metric"));
}

TEST(GateRulesTest, ParsesAndRejectsWithPositions) {
  ASSERT_OK_AND_ASSIGN(
      GateRules rules,
      ParseGateRules("g.yaml",
                     "alpha: 0.01\nmin_shared: 50\nmax_wall_time_ratio: 1.5\n"
                     "metrics:\n  mmlu/acc: 0.02\n  mmlu/acc/anatomy: 0.1\n"));
  EXPECT_EQ(rules.alpha, 0.01);
  EXPECT_EQ(rules.min_shared, 50);
  ASSERT_EQ(rules.metrics.size(), 2u);
  EXPECT_EQ(rules.metrics[1].subtask, "anatomy");
  EXPECT_EQ(rules.metrics[1].max_drop, 0.1);
  EXPECT_THAT(
      ParseGateRules("g.yaml", "alpha: 0.01\nbogus: 1\n").status().message(),
      HasSubstr("g.yaml:2:1: unknown field 'bogus'"));
  EXPECT_THAT(
      ParseGateRules("g.yaml", "metrics:\n  mmlu: 0.1\n").status().message(),
      HasSubstr("g.yaml:2:3: field 'metrics': 'mmlu' is not TASK/METRIC"));
  EXPECT_THAT(ParseGateRules("g.yaml", "alpha: [1\n").status().message(),
              HasSubstr("g.yaml:"));
  EXPECT_THAT(ParseGateRules("g.yaml", "alpha: 2\n").status().message(),
              HasSubstr("field 'alpha': 2 is outside"));
}

TEST(GateOutputTest, JunitIsWellFormedXmlAndMarkdownHasTheTable) {
  RunData base = MakeRun("base<&>", 300, [](int i) { return i % 3 != 0; });
  RunData run = MakeRun("run\"x'", 300, [](int i) {
    return i % 3 != 0 && !(i % 5 == 1 && i < 120);
  });
  run.run.mutable_fingerprint()->set_driver_version("<driver & co>");
  ASSERT_OK_AND_ASSIGN(GateResult gate,
                       EvaluateGate(run, base, GateRules(), true));
  const std::string xml = GateJunitXml(gate, run.run.id(), base.run.id());
  EXPECT_THAT(xml, HasSubstr("tests=\"2\" failures=\"1\""));
  EXPECT_THAT(xml, HasSubstr("&lt;driver &amp; co&gt;"));
  const std::string md = GateMarkdown(gate, run.run.id(), base.run.id());
  EXPECT_THAT(md, HasSubstr("## evald gate: FAIL"));
  EXPECT_THAT(md, HasSubstr("| mmlu/acc | 0.6667 |"));
  EXPECT_THAT(md, HasSubstr("**Environment drift (allowed):**"));
  if (!base::PathExists("/usr/bin/python3"))
    GTEST_SKIP() << "no /usr/bin/python3 to parse the XML";
  evald::testing::TempDir dir;
  const std::string path = dir.Join("junit.xml");
  ASSERT_OK(base::WriteFileAtomically(path, xml));
  const std::string cmd = absl::StrCat(
      "/usr/bin/python3 -c \"import sys, xml.etree.ElementTree as E; r = "
      "E.parse(sys.argv[1])"
      ".getroot(); print(len(r.findall('.//testcase')), "
      "len(r.findall('.//failure')))\" ",
      path);
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[64] = {0};
  const size_t n = fread(buffer, 1, sizeof(buffer) - 1, pipe);
  EXPECT_EQ(pclose(pipe), 0);
  EXPECT_EQ(std::string(buffer, n), "2 1\n");
}

}  // namespace
}  // namespace evald::report
