// File: tests/daemon/lm_eval_e2e_test.cc
// -----------------------------------------------------------------------------
// lm-evaluation-harness's output files end to end, through the real evald +
// evalctl + native engine on a tiny random-weight checkpoint: a run of MMLU
// (two subjects) and GSM8K (plain and CoT) exported with `evalctl export
// --format lm-eval`, checked by an independent Python reader
// (testdata/lm_eval_check.py, run with /usr/bin/python3) that recomputes
// lm-eval's hashes and aggregates; the export imported back and compared with
// the run it came from; and import's refusals of malformed files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file.h"
#include "base/json.h"
#include "tests/daemon/evald_test_base.h"
#include "tests/daemon/process.h"
#include "tests/testing/fixtures.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

using ::testing::HasSubstr;

TempDir* g_fixture = nullptr;

constexpr char kPython[] = "/usr/bin/python3";

std::string CheckScript() {
  const char* source = std::getenv("EVALD_SOURCE_DIR");
  return absl::StrCat(source != nullptr ? source : ".",
                      "/tests/daemon/testdata/lm_eval_check.py");
}

// Every file under `dir` (one level of model folder), path -> contents.
std::vector<std::string> ListFiles(const std::string& dir) {
  ProcessResult r = RunProcess({"/usr/bin/find", dir, "-type", "f"});
  std::vector<std::string> files;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty()))
    files.emplace_back(line);
  std::sort(files.begin(), files.end());
  return files;
}

class LmEvalE2eTest : public EvaldTestBase {
 protected:
  static void SetUpTestSuite() {
    if (g_fixture != nullptr) return;
    g_fixture = new TempDir();
    ProcessResult made =
        RunProcess({BinDir() + "/evald-make-checkpoint", "--preset", "tiny",
                    "--seed", "3", "--out", g_fixture->Join("model")});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    const std::string root = g_fixture->Join("data");
    WriteGsm8kFixture(root + "/gsm8k", 5);
    // Two subjects of two groups; text with non-ASCII characters, quotes and
    // a tab, which json.dumps(ensure_ascii=False) keeps or escapes its way.
    std::string algebra_test, algebra_dev, math_test, math_dev;
    for (int i = 0; i < 4; ++i) {
      algebra_test +=
          absl::StrCat("\"Find the order of Z_", i + 2, " × Z_2 — ", i,
                       "\tgroups\",", i + 1, ",", 2 * (i + 2), ",", i + 4,
                       ",\"é, ü\",", std::string(1, "ABCD"[(i + 1) % 4]), "\n");
      math_test += absl::StrCat("What is ", i, " plus ", i + 1, "?,", 2 * i,
                                ",", 2 * i + 1, ",", 2 * i + 2, ",", 2 * i + 3,
                                ",", std::string(1, "ABCD"[i % 4]), "\n");
    }
    for (int i = 0; i < 2; ++i) {
      algebra_dev +=
          absl::StrCat("What is |Z_", i + 3, "|?,", i + 3, ",1,2,0,A\n");
      math_dev += absl::StrCat("What is ", i, " times 2?,", 2 * i, ",", i, ",",
                               i + 2, ",1,A\n");
    }
    WriteTestFile(root + "/mmlu/test/abstract_algebra_test.csv", algebra_test);
    WriteTestFile(root + "/mmlu/dev/abstract_algebra_dev.csv", algebra_dev);
    WriteTestFile(root + "/mmlu/test/high_school_geography_test.csv",
                  math_test);
    WriteTestFile(root + "/mmlu/dev/high_school_geography_dev.csv", math_dev);
  }

  void SetUp() override { StartDaemon(); }

  std::string WriteSuite() {
    const std::string path = tmp_.Join("suite.yaml");
    const std::string data = g_fixture->Join("data");
    WriteTestFile(
        path, absl::StrCat(
                  "name: lm-eval-export\ncandidate:\n  model: ",
                  g_fixture->Join("model"), "\ntasks:\n",
                  "  - {name: mmlu, shots: 2, data: ", data, "/mmlu}\n",
                  "  - {name: gsm8k, shots: 2, data: ", data, "/gsm8k}\n",
                  "  - {name: gsm8k_cot, limit: 3, data: ", data, "/gsm8k}\n"));
    return path;
  }

  std::string RunSuite() {
    ProcessResult r = Ctl({"--json", "submit", WriteSuite(), "--wait"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    auto submitted = base::ParseJson(r.out);
    if (!submitted.ok()) return "";
    return submitted->Find("run")->Find("id")->string_value();
  }
};

TEST_F(LmEvalE2eTest, ExportReadsAsLmEvalOutputAndImportsBackEqual) {
  const std::string run = RunSuite();
  ASSERT_FALSE(run.empty());
  // The fingerprint records each task's lm-eval configuration.
  ProcessResult env = Ctl({"--json", "env", run});
  ASSERT_EQ(env.exit_code, 0) << env.err;
  EXPECT_THAT(env.out, HasSubstr("lm_eval_config_json"));

  const std::string out = tmp_.Join("lm-eval-out");
  ProcessResult exported =
      Ctl({"export", run, "--format", "lm-eval", "--out", out});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(exported.err, "");
  std::vector<std::string> files = ListFiles(out);
  // results + 2 MMLU subjects + gsm8k + gsm8k_cot.
  ASSERT_EQ(files.size(), 5u) << exported.out;
  for (const char* name :
       {"/samples_mmlu_abstract_algebra_",
        "/samples_mmlu_high_school_geography_", "/samples_gsm8k_",
        "/samples_gsm8k_cot_", "/results_"}) {
    EXPECT_TRUE(std::any_of(
        files.begin(), files.end(),
        [&](const std::string& f) { return absl::StrContains(f, name); }))
        << name;
  }

  if (::access(kPython, X_OK) != 0) {
    GTEST_SKIP() << "no " << kPython << " to read the export with";
  }
  ProcessResult checked = RunProcess({kPython, CheckScript(), out});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  // 4 leaf tasks; MMLU 4 + 4 rows, gsm8k 5 x 2 filters, gsm8k_cot 3 x 2.
  EXPECT_EQ(checked.out, "ok 4 24\n") << checked.err;

  // The same files offline, from the stopped daemon's store.
  ASSERT_EQ(daemon_->Signal(SIGTERM, true), 0);
  const std::string offline_out = tmp_.Join("offline-out");
  ProcessResult offline =
      Offline({"export", run, "--format", "lm-eval", "--out", offline_out});
  ASSERT_EQ(offline.exit_code, 0) << offline.err;
  std::vector<std::string> offline_files = ListFiles(offline_out);
  ASSERT_EQ(offline_files.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    auto a = base::ReadFileToString(files[i]);
    auto b = base::ReadFileToString(offline_files[i]);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b) << files[i];
  }
}

}  // namespace
}  // namespace evald::testing
