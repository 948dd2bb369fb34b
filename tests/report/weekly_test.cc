// The research report over runs built in memory: ordering by checkpoint,
// trends, regressions by the gate rules, environment changes, moved
// documents, escaping of store text in both formats, and the HTML loaded in
// headless Chromium (DOM checked, screenshot non-blank) where Chromium is
// installed.
#include "report/weekly.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::report {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kDocs = 240;

// A run over MMLU-like documents at `checkpoint`; doc i is right when
// right(i). acc is stored with its stderr.
RunData Run(const std::string& id, const std::string& checkpoint,
            int64_t created_ms, const std::function<bool(int)>& right,
            const std::string& driver = "580.1") {
  RunData data;
  data.run.set_id(id);
  data.run.set_state(v1::SUCCEEDED);
  data.run.set_created_unix_ms(created_ms);
  data.run.mutable_spec()->set_name("nightly <script>alert(1)</script>");
  (*data.run.mutable_spec()->mutable_labels())["checkpoint"] = checkpoint;
  data.run.mutable_spec()->add_tasks()->set_name("mmlu");
  data.run.mutable_fingerprint()->set_driver_version(driver);
  data.run.mutable_phases()->set_total_s(120);
  data.run.mutable_phases()->set_prefill_s(80);
  data.run.mutable_stats()->set_prompt_tokens(1000);
  data.run.mutable_stats()->set_cached_prompt_tokens(880);
  double sum = 0;
  for (int i = 0; i < kDocs; ++i) {
    v1::SampleRecord s;
    s.set_task("mmlu");
    s.set_doc_id(absl::StrCat("anatomy/", i));
    s.set_subtask("anatomy");
    (*s.mutable_metrics())["acc"] = right(i) ? 1 : 0;
    sum += right(i);
    data.samples.push_back(s);
  }
  const double p = sum / kDocs;
  v1::TaskScores scores;
  scores.set_task("mmlu");
  auto* m = scores.add_metrics();
  m->set_name("acc");
  m->set_value(p);
  m->set_std_error(std::sqrt(p * (1 - p) / (kDocs - 1)));
  data.scores.push_back(scores);
  return data;
}

std::vector<RunData> Week() {
  std::vector<RunData> runs;
  // Submitted out of checkpoint order on purpose.
  runs.push_back(Run(
      "r3", "1300", 3000, [](int i) { return i % 2 == 0; }, "590.2"));
  runs.push_back(Run("r1", "1100", 2000, [](int i) { return i % 3 != 0; }));
  runs.push_back(
      Run("r2", "1200", 1000, [](int i) { return i % 3 != 0 || i % 9 == 0; }));
  return runs;
}

std::vector<RunData> Sweep() {
  std::vector<RunData> runs;
  runs.push_back(Run("ra", "step-1200", 1000, [](int i) { return i % 2; }));
  runs.push_back(Run("rb", "step-900", 1000, [](int i) { return i % 3; }));
  runs.push_back(Run("rc", "step-10000", 1000, [](int i) { return i % 4; }));
  return runs;
}

TEST(WeeklyReportTest, SweepCheckpointNamesTrendInNaturalOrder) {
  // A sweep labels runs with checkpoint folder names: step-900 comes before
  // step-1200 whatever order they were submitted (or listed) in.
  ASSERT_OK_AND_ASSIGN(Report r, BuildReport(Sweep(), GateRules(), 0, 10000));
  ASSERT_EQ(r.runs.size(), 3u);
  EXPECT_EQ(r.runs[0].checkpoint, "step-900");
  EXPECT_EQ(r.runs[1].checkpoint, "step-1200");
  EXPECT_EQ(r.runs[2].checkpoint, "step-10000");
  ASSERT_EQ(r.trends.size(), 1u);
  ASSERT_EQ(r.trends[0].points.size(), 3u);
  EXPECT_EQ(r.trends[0].points[0].x_label, "step-900");
}

TEST(WeeklyReportTest, TrendsRegressionsEnvironmentAndMovedDocuments) {
  ASSERT_OK_AND_ASSIGN(Report r, BuildReport(Week(), GateRules(), 0, 10000));
  ASSERT_EQ(r.runs.size(), 3u);
  EXPECT_EQ(r.runs[0].id, "r1");  // checkpoint order, not submission order
  EXPECT_EQ(r.runs[2].id, "r3");
  EXPECT_NEAR(r.runs[0].cache_hit_rate, 0.88, 1e-12);
  ASSERT_EQ(r.trends.size(), 1u);
  ASSERT_EQ(r.trends[0].points.size(), 3u);
  EXPECT_EQ(r.trends[0].points[1].x_label, "1200");
  // 1100 -> 1200 gains (i % 9 == 0 docs), 1200 -> 1300 loses many: a FAIL.
  ASSERT_EQ(r.regressions.size(), 1u);
  EXPECT_EQ(r.regressions[0].from_run, "r2");
  EXPECT_EQ(r.regressions[0].to_run, "r3");
  EXPECT_EQ(r.regressions[0].verdict, Verdict::kFail);
  ASSERT_EQ(r.env_changes.size(), 1u);
  EXPECT_EQ(r.env_changes[0].difference.field, "driver");
  EXPECT_EQ(r.env_changes[0].difference.b, "590.2");
  EXPECT_EQ(r.worsened.size(), 10u);  // capped per task
  EXPECT_FALSE(r.improved.empty());
  EXPECT_EQ(r.worsened[0].first, 1.0);
  EXPECT_EQ(r.worsened[0].last, 0.0);
}

TEST(WeeklyReportTest, RendersEscapedHtmlAndMarkdown) {
  ASSERT_OK_AND_ASSIGN(Report r, BuildReport(Week(), GateRules(), 0, 10000));
  const std::string html = RenderHtml(r);
  EXPECT_THAT(html, HasSubstr("<svg class=\"chart\""));
  EXPECT_THAT(html, HasSubstr("<polygon class=\"band\""));
  EXPECT_THAT(html, HasSubstr("nightly &lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, HasSubstr("@media print"));
  EXPECT_THAT(html, HasSubstr("class=\"fail\">FAIL"));
  EXPECT_THAT(html, HasSubstr("580.1</td><td>590.2"));
  const std::string md = RenderMarkdown(r);
  EXPECT_THAT(md, HasSubstr("| checkpoint | run | value | 95% interval |"));
  EXPECT_THAT(md, HasSubstr("nightly \\<script\\>alert(1)\\</script\\>"));
  EXPECT_THAT(md, HasSubstr("**FAIL**"));
  EXPECT_THAT(md, HasSubstr("| 1200 | `r2` |"));
}

TEST(WeeklyReportTest, EmptyWindowIsNotFound) {
  absl::StatusOr<Report> r = BuildReport({}, GateRules(), 0, 86400000);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(
      r.status().message(),
      HasSubstr("no runs between 1970-01-01 00:00 and 1970-01-02 00:00"));
}

std::string Capture(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    out.append(buffer, n);
  pclose(pipe);
  return out;
}

TEST(WeeklyReportTest, ChromiumRendersChartsAndTables) {
  if (!base::PathExists("/usr/bin/chromium")) {
    GTEST_SKIP() << "Debian's chromium is not installed "
                    "(scripts/install-deps.sh installs it)";
  }
  ASSERT_OK_AND_ASSIGN(Report r, BuildReport(Week(), GateRules(), 0, 10000));
  evald::testing::TempDir dir;
  const std::string html = dir.Join("week.html");
  ASSERT_OK(base::WriteFileAtomically(html, RenderHtml(r)));
  const std::string flags =
      "--headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
      "--no-first-run "
      "--user-data-dir=" +
      dir.Join("profile");
  const std::string dom =
      Capture(absl::StrCat("/usr/bin/chromium ", flags, " --dump-dom file://",
                           html, " 2>/dev/null"));
  int svgs = 0;
  for (size_t p = dom.find("<svg"); p != std::string::npos;
       p = dom.find("<svg", p + 1))
    ++svgs;
  EXPECT_EQ(svgs, 1) << dom.substr(0, 400);
  EXPECT_THAT(dom, HasSubstr("<table class=\"runs\">"));
  EXPECT_THAT(dom, HasSubstr("<table class=\"regressions\">"));
  const std::string png = dir.Join("week.png");
  Capture(absl::StrCat("/usr/bin/chromium ", flags,
                       " --window-size=1100,1600 --screenshot=", png,
                       " file://", html, " 2>/dev/null"));
  ASSERT_TRUE(base::PathExists(png)) << "no screenshot written";
  if (const char* keep = std::getenv("EVALD_KEEP_REPORT_SCREENSHOT")) {
    Capture(absl::StrCat("cp ", png, " ", keep));
  }
  if (!base::PathExists("/usr/bin/python3")) return;
  // Non-blank: the decoded pixels use many distinct colours (a blank page has
  // one or two).
  const std::string colours = Capture(absl::StrCat(
      "/usr/bin/python3 -c \"import sys,zlib,struct\n"
      "d=open(sys.argv[1],'rb').read(); i=8; idat=b''; w=h=0\n"
      "while i<len(d):\n"
      "  n,t=struct.unpack('>I4s',d[i:i+8]); c=d[i+8:i+8+n]; i+=12+n\n"
      "  if t==b'IHDR': w,h,bd,ct=struct.unpack('>IIBB',c[:10])\n"
      "  if t==b'IDAT': idat+=c\n"
      "raw=zlib.decompress(idat); bpp=4 if ct==6 else 3; s=w*bpp+1\n"
      "print(len(set(raw[r*s+1+k*bpp:r*s+1+k*bpp+bpp] for r in range(0,h,7) "
      "for k in range(0,w,3))))\" ",
      png));
  EXPECT_GT(std::atoi(colours.c_str()), 10) << colours;
}

}  // namespace
}  // namespace evald::report
