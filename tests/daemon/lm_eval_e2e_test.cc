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
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
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
    // IFEval: three prompts and the smallest Punkt model its sentence
    // splitter reads.
    WriteTestFile(root + "/punkt/english/abbrev_types.txt", "dr\n");
    WriteTestFile(root + "/punkt/english/collocations.tab", "");
    WriteTestFile(root + "/punkt/english/sent_starters.txt", "the\n");
    WriteTestFile(root + "/punkt/english/ortho_context.tab", "the\t50\n");
    WriteTestFile(
        root + "/ifeval/input_data.jsonl",
        R"({"key": 11, "prompt": "Write without commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
{"key": 12, "prompt": "Give a title and end with bye.", "instruction_id_list": ["startend:end_checker", "detectable_format:title"], "kwargs": [{"end_phrase": "Bye"}, {}]}
{"key": 13, "prompt": "Mention the sun ☀.", "instruction_id_list": ["keywords:existence"], "kwargs": [{"keywords": ["sun"], "num_words": null, "relation": null, "end_phrase": null}]}
)");
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
                  "  - {name: gsm8k_cot, limit: 3, data: ", data, "/gsm8k}\n",
                  "  - {name: ifeval, data: ", data, "/ifeval}\n"));
    return path;
  }

  // (task, metric, group) -> "value stderr count" of a `results` reply;
  // `lm_eval_only` leaves out what lm-eval does not report (acc_macro).
  static std::map<std::string, std::string> ScoreMap(const base::Json& results,
                                                     bool lm_eval_only) {
    std::map<std::string, std::string> out;
    const base::Json* scores = results.Find("scores");
    if (scores == nullptr) return out;
    for (const base::Json& t : scores->array()) {
      for (const base::Json& m : t.Find("metrics")->array()) {
        const std::string name = Str(m, {"name"});
        if (lm_eval_only && name == "acc_macro") continue;
        const base::Json* v = m.Find("value");
        const base::Json* se = m.Find("std_error");
        out[absl::StrCat(Str(t, {"task"}), " ", name, " ", Str(m, {"group"}))] =
            absl::StrCat(v ? v->Dump() : "0", " ", se ? se->Dump() : "0", " ",
                         Int(m.Find("count")));
      }
    }
    return out;
  }

  // Writes an lm-eval output folder with `results` and one samples file.
  std::string WriteLmEvalDir(const std::string& name,
                             const std::string& results,
                             const std::string& samples) {
    const std::string dir = tmp_.Join(name);
    const std::string date = "2026-01-02T03-04-05.000006";
    WriteTestFile(absl::StrCat(dir, "/results_", date, ".json"), results);
    if (!samples.empty())
      WriteTestFile(absl::StrCat(dir, "/samples_gsm8k_", date, ".jsonl"),
                    samples);
    return dir;
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
  // results + 2 MMLU subjects + gsm8k + gsm8k_cot + ifeval.
  ASSERT_EQ(files.size(), 6u) << exported.out;
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
  // 5 leaf tasks; MMLU 4 + 4 rows, gsm8k 5 x 2 filters, gsm8k_cot 3 x 2,
  // ifeval 3.
  EXPECT_EQ(checked.out, "ok 5 27\n") << checked.err;

  // `evalctl score` reads lm-eval's samples file and scores its generations
  // as the run did.
  for (const std::string& f : files) {
    if (!absl::StrContains(f, "/samples_gsm8k_2")) continue;
    ProcessResult scored =
        Ctl({"--json", "score", "gsm8k", "--shots", "2", "--data",
             g_fixture->Join("data") + "/gsm8k", "--responses", f});
    ASSERT_EQ(scored.exit_code, 0) << scored.err;
    const base::Json score = Json(scored);
    std::map<std::string, double> got;
    for (const base::Json& m : score.Find("metrics")->array())
      got[Str(m, {"name"})] = m.Find("value")->number_value();
    std::map<std::string, double> want;
    for (const auto& [key, value] : ScoreMap(Results(run), false)) {
      if (absl::StartsWith(key, "gsm8k "))
        want[std::string(
            absl::StripPrefix(key.substr(0, key.size() - 1), "gsm8k "))] =
            std::stod(value.substr(0, value.find(' ')));
    }
    EXPECT_EQ(got, want);
    EXPECT_EQ(score.Find("samples")->array().size(), 5u);
  }

  // Imported back, the run is a baseline with the same scores and samples.
  ProcessResult imported =
      Ctl({"--json", "import", "--format", "lm-eval", out});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  const std::string baseline = Str(Json(imported), {"run_id"});
  ASSERT_FALSE(baseline.empty());
  EXPECT_EQ(Int(Json(imported).Find("samples")), 4 + 4 + 5 + 3 + 3);
  EXPECT_THAT(Ctl({"list", "--label", "imported=lm-eval"}).out,
              HasSubstr(baseline));
  const base::Json a = Results(run);
  const base::Json b = Results(baseline);
  EXPECT_EQ(State(b), "SUCCEEDED");
  EXPECT_EQ(ScoreMap(a, /*lm_eval_only=*/true), ScoreMap(b, false));
  // 5 mmlu, 2 + 2 gsm8k, 4 ifeval.
  EXPECT_EQ(ScoreMap(b, false).size(), 13u);
  ProcessResult compared = Ctl({"--json", "compare", run, baseline});
  ASSERT_EQ(compared.exit_code, 0) << compared.err;
  const base::Json comparison = Json(compared);
  const base::Json* rows = comparison.Find("metrics");
  ASSERT_NE(rows, nullptr);
  int64_t shared = 0;
  for (const base::Json& row : rows->array()) {
    EXPECT_EQ(row.Find("score_a")->number_value(),
              row.Find("score_b")->number_value())
        << row.Dump();
    EXPECT_EQ(row.Find("difference")->number_value(), 0) << row.Dump();
    if (Str(row, {"subtask"}).empty()) shared += Int(row.Find("shared"));
  }
  // mmlu; gsm8k, gsm8k_cot x 2 filters; ifeval x 4 metrics.
  EXPECT_EQ(shared, 8 + 5 + 5 + 3 + 3 + 4 * 3);
  // Exported again, the imported run gives the same samples files.
  const std::string again = tmp_.Join("again");
  ProcessResult reexported =
      Ctl({"export", baseline, "--format", "lm-eval", "--out", again});
  ASSERT_EQ(reexported.exit_code, 0) << reexported.err;
  std::vector<std::string> again_files = ListFiles(again);
  ASSERT_EQ(again_files.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    if (absl::StrContains(files[i], "/results_")) continue;
    auto x = base::ReadFileToString(files[i]);
    auto y = base::ReadFileToString(again_files[i]);
    ASSERT_TRUE(x.ok() && y.ok());
    EXPECT_EQ(*x, *y) << files[i] << " vs " << again_files[i];
  }

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
  // With the daemon stopped, import writes the store itself.
  ProcessResult offline_import =
      Offline({"--json", "import", "--format", "lm-eval", out});
  ASSERT_EQ(offline_import.exit_code, 0) << offline_import.err;
  const std::string offline_run = Str(Json(offline_import), {"run_id"});
  EXPECT_EQ(ScoreMap(Results(offline_run, /*offline=*/true), false),
            ScoreMap(b, false));
}

constexpr char kGoodResults[] = R"({
  "results": {
    "gsm8k": {
      "name": "gsm8k",
      "alias": "gsm8k",
      "sample_len": 2,
      "exact_match,strict-match": 0.5,
      "exact_match_stderr,strict-match": 0.5
    }
  },
  "group_subtasks": {},
  "date": 1767322800.0
})";

std::string Row(int doc_id, const std::string& response, double em) {
  return absl::StrCat(
      R"({"doc_id": )", doc_id,
      R"(, "doc": {"question": "q", "answer": "#### 2"}, "target": "#### 2", )",
      R"("arguments": {"gen_args_0": {"arg_0": "Question: q\nAnswer:", )",
      R"("arg_1": {"until": ["Question:"]}}}, "resps": [[")", response,
      R"("]], "filtered_resps": [")", response,
      R"("], "filter": "strict-match", "metrics": ["exact_match"], )",
      R"("doc_hash": "x", "prompt_hash": "y", "target_hash": "z", )",
      R"("exact_match": )", em, "}\n");
}

// A run of lm-eval task YAML (the examples: the MMLU group over its
// category groups, GSM8K, a HellaSwag-shaped and a WikiText-shaped task)
// exports as lm-eval would write it: the groups as the YAML nests them, the
// rolling task's per-document (loglikelihood, weight) pairs.
TEST_F(LmEvalE2eTest, YamlTasksExportAsLmEvalOutput) {
  const char* source = std::getenv("EVALD_SOURCE_DIR");
  // Tests run in the source folder; the suite resolves paths against its own.
  const std::string examples =
      absl::StrCat(source != nullptr ? std::string(source)
                                     : std::filesystem::current_path().string(),
                   "/examples/lm-eval-tasks");
  const std::string suite = tmp_.Join("yaml-suite.yaml");
  WriteTestFile(
      suite,
      absl::StrCat(
          "name: lm-eval-yaml\ncandidate:\n  model: ", g_fixture->Join("model"),
          "\ntasks:\n", "  - {yaml: ", examples, "/mmlu, shots: 2}\n",
          "  - {yaml: ", examples, "/gsm8k/gsm8k.yaml, limit: 3}\n",
          "  - {yaml: ", examples, "/hellaswag_like}\n",
          "  - {yaml: ", examples, "/wikitext_like}\n"));
  ProcessResult r = Ctl({"--json", "submit", suite, "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string run = Str(Json(r), {"run", "id"});
  ASSERT_FALSE(run.empty());
  const std::string out = tmp_.Join("yaml-out");
  ProcessResult exported =
      Ctl({"export", run, "--format", "lm-eval", "--out", out});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(exported.err, "");
  // results + 4 MMLU subjects + gsm8k + the two new shapes.
  ASSERT_EQ(ListFiles(out).size(), 8u) << exported.out;
  std::string results_text;
  for (const std::string& f : ListFiles(out)) {
    if (absl::StrContains(f, "/results_")) {
      auto text = base::ReadFileToString(f);
      ASSERT_TRUE(text.ok());
      results_text = *text;
    }
  }
  auto results = base::ParseJson(results_text);
  ASSERT_TRUE(results.ok());
  const base::Json* subtasks = results->Find("group_subtasks");
  ASSERT_NE(subtasks, nullptr);
  EXPECT_EQ(
      subtasks->Find("mmlu")->Dump(),
      R"(["mmlu_stem","mmlu_other","mmlu_social_sciences","mmlu_humanities"])");
  EXPECT_EQ(subtasks->Find("mmlu_stem")->Dump(),
            R"(["mmlu_high_school_mathematics"])");
  if (::access(kPython, X_OK) != 0) {
    GTEST_SKIP() << "no " << kPython << " to read the export with";
  }
  ProcessResult checked = RunProcess({kPython, CheckScript(), out});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  // 7 leaf tasks; MMLU 4 + 3 + 3 + 3 rows, gsm8k 3 x 2 filters,
  // hellaswag_like 5, wikitext_like 4.
  EXPECT_EQ(checked.out, "ok 7 28\n") << checked.err;
}

TEST_F(LmEvalE2eTest, ImportStoresAWellFormedFolderAndRefusesMalformedOnes) {
  const std::string good_samples = Row(0, "2", 1.0) + Row(1, "3", 0.0);
  ProcessResult ok = Ctl({"--json", "import", "--format", "lm-eval",
                          WriteLmEvalDir("good", kGoodResults, good_samples)});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const std::string run = Str(Json(ok), {"run_id"});
  base::Json results = Results(run);
  EXPECT_EQ(State(results), "SUCCEEDED");
  EXPECT_EQ(ScoreMap(results, false),
            (std::map<std::string, std::string>{
                {"gsm8k exact_match,strict-match ", "0.5 0.5 2"}}));
  ProcessResult samples = Ctl({"--json", "samples", run, "gsm8k"});
  EXPECT_THAT(samples.out, HasSubstr(R"("doc_id":"1")"));
  EXPECT_THAT(samples.out, HasSubstr(R"("exact_match,strict-match":1)"));

  struct Case {
    std::string name;
    std::string results;
    std::string samples;
    std::string error;  // what the one line says
  };
  std::string bad_value = kGoodResults;
  bad_value.replace(bad_value.find("0.5"), 3, "\"high\"");
  std::string bad_na = kGoodResults;
  bad_na.replace(bad_na.rfind("0.5"), 3, "\"n/a\"");
  const std::vector<Case> cases = {
      {"not-json", "{\"results\": {", "",
       "results_2026-01-02T03-04-05.000006.json: line 1, column 14"},
      {"no-results", "{\"configs\": {}}", "",
       "results_2026-01-02T03-04-05.000006.json: field 'results' is missing"},
      {"bad-value", bad_value, "",
       "results_2026-01-02T03-04-05.000006.json: line 7: field "
       "'results.gsm8k[\"exact_match,strict-match\"]': expected a number, "
       "got \"high\""},
      {"bad-stderr", bad_na, "",
       "results_2026-01-02T03-04-05.000006.json: line 8: field "
       "'results.gsm8k[\"exact_match_stderr,strict-match\"]': expected a "
       "number or \"N/A\""},
      {"row-not-json", kGoodResults, Row(0, "2", 1.0) + "{\"doc_id\": 1,\n",
       "samples_gsm8k_2026-01-02T03-04-05.000006.jsonl: line 2"},
      {"row-no-doc-id", kGoodResults,
       Row(0, "2", 1.0) + "{\"doc\": {}, \"target\": \"1\"}\n",
       "samples_gsm8k_2026-01-02T03-04-05.000006.jsonl: line 2: field "
       "'doc_id' is missing"},
      {"row-bad-metric", kGoodResults,
       Row(0, "2", 1.0) +
           absl::StrReplaceAll(Row(1, "3", 0.0), {{"\"exact_match\": 0",
                                                   "\"exact_match\": \"no\""}}),
       "samples_gsm8k_2026-01-02T03-04-05.000006.jsonl: line 2: field "
       "'exact_match': expected a number"},
  };
  for (const Case& c : cases) {
    ProcessResult r = Ctl({"import", "--format", "lm-eval",
                           WriteLmEvalDir(c.name, c.results, c.samples)});
    EXPECT_EQ(r.exit_code, 2) << c.name << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.error)) << c.name;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // A samples file of a task the results do not name.
  const std::string stray = WriteLmEvalDir("stray", kGoodResults, "");
  WriteTestFile(stray + "/samples_mmlu_x_2026-01-02T03-04-05.000006.jsonl",
                Row(0, "2", 1.0));
  ProcessResult r = Ctl({"import", "--format", "lm-eval", stray});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("samples_mmlu_x_2026-01-02T03-04-05.000006."
                               "jsonl: task 'mmlu_x' has no entry"));
  // Nothing of the refused folders was stored: only the good import.
  ProcessResult listed = Ctl({"--json", "list", "--label", "imported=lm-eval"});
  ASSERT_EQ(listed.exit_code, 0);
  const base::Json runs = Json(listed);
  ASSERT_NE(runs.Find("runs"), nullptr) << listed.out;
  EXPECT_EQ(runs.Find("runs")->array().size(), 1u) << listed.out;
}

}  // namespace
}  // namespace evald::testing
