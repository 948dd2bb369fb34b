// File: tests/daemon/lm_eval_files_test.cc
// -----------------------------------------------------------------------------
// daemon/lm_eval_files: what export writes is byte for byte what Python's
// json.dumps writes for the same content, and its hashes are lm-eval's,
// checked by /usr/bin/python3 on documents with the awkward values (floats
// in exponent form, negative zero, control characters, astral characters,
// nested containers); import maps lm-eval's groups and metric keys to
// evald's tasks, subtasks and metric names.
#include "daemon/lm_eval_files.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "tests/py/python.h"
#include "tests/testing/temp_dir.h"

namespace evald::daemon {
namespace {

v1::RunRecord MakeRun() {
  v1::RunRecord run;
  run.set_id("r20260101T000000Z-0000");
  run.set_state(v1::SUCCEEDED);
  run.set_started_unix_ms(1767225600000);
  run.set_finished_unix_ms(1767225612345);
  run.mutable_spec()->set_name("unit");
  run.mutable_spec()->mutable_candidate()->set_path(
      "/models/Llama-3[1]:8B?x*|y");
  run.mutable_spec()->add_tasks()->set_name("t");
  v1::TaskFingerprint* t = run.mutable_fingerprint()->add_tasks();
  t->set_name("t");
  t->set_lm_eval_config_json(
      R"({"task": "t", "doc_to_choice": ["A", "B"], "num_fewshot": 0,)"
      R"( "metric_list": [{"metric": "acc", "higher_is_better": true}],)"
      R"( "output_type": "multiple_choice", "metadata": {"version": 1.0}})");
  return run;
}

v1::SampleRecord MakeSample(int index, const std::string& doc_json) {
  v1::SampleRecord s;
  s.set_task("t");
  s.set_doc_index(index);
  s.set_doc_id(absl::StrCat(index));
  s.set_prompt(absl::StrCat("Context ", index, " é\n"));
  s.set_target("B");
  (*s.mutable_metrics())["acc"] = index % 2;
  s.set_lm_eval_json(absl::StrCat(
      R"({"doc": )", doc_json, R"(, "target": 1, "arguments": [[null, " A"],)",
      R"( [null, " B"]], "resps": [[-1.0000000000000002, false],)",
      R"( [-3.5e-05, true]], "filtered_resps": {"none": [[-1.0000000000000002,)",
      R"( false], [-3.5e-05, true]]}})"));
  return s;
}

TEST(LmEvalFilesTest, ExportIsWhatPythonWritesWithLmEvalsHashes) {
  const v1::RunRecord run = MakeRun();
  v1::TaskScores scores;
  scores.set_task("t");
  v1::Metric* m = scores.add_metrics();
  m->set_name("acc");
  m->set_value(0.5);
  m->set_std_error(0.5);
  m->set_count(2);
  std::map<std::string, std::vector<v1::SampleRecord>> samples;
  samples["t"] = {
      MakeSample(0, R"({"q": "é\u0001\"\\\t☀𝄞 </s>", "n": 3, "x": 1e-05,)"
                    R"( "y": 1e16, "z": -0.0, "w": 0.1, "l": [1, [2, []], {}],)"
                    R"( "b": true, "nul": null, "big": 12345678901234})"),
      MakeSample(1, R"({"q": "", "e": {}, "f": 2.5e-300, "g": 123456.789})")};
  auto exported = ExportLmEval(run, {scores}, samples);
  ASSERT_TRUE(exported.ok()) << exported.status();
  ASSERT_EQ(exported->files.size(), 2u);
  EXPECT_EQ(exported->files[0].path,
            "__models__Llama-3__1__8B__x__y/"
            "results_2026-01-01T00-00-12.345000.json");
  EXPECT_EQ(exported->files[1].path,
            "__models__Llama-3__1__8B__x__y/"
            "samples_t_2026-01-01T00-00-12.345000.jsonl");

  testing::TempDir dir;
  const std::string results = dir.Join("results.json");
  const std::string rows = dir.Join("samples.jsonl");
  testing::WriteTestFile(results, exported->files[0].content);
  testing::WriteTestFile(rows, exported->files[1].content);
  // Written from lm-eval's rules (evaluation_tracker.py, evaluator.py).
  auto out = testing::RunPythonScript(
      absl::StrCat(R"(
import hashlib, json, re
sha = lambda s: hashlib.sha256(s.encode("utf-8")).hexdigest()
text = open(")",
                   results, R"(", encoding="utf-8").read()
r = json.loads(text)
assert json.dumps(r, indent=2, ensure_ascii=False) == text, "results bytes"
assert r["model_name_sanitized"] == re.sub(r"[\"<>:/|\\?*\[\]]+", "__", r["model_name"])
hashes = ""
for line in open(")",
                   rows, R"(", encoding="utf-8"):
    row = json.loads(line)
    assert json.dumps(row, ensure_ascii=False) + "\n" == line, "row bytes"
    assert row["doc_hash"] == sha(json.dumps(row["doc"], indent=2, ensure_ascii=False))
    assert row["prompt_hash"] == sha(row["arguments"]["gen_args_0"]["arg_0"])
    assert row["target_hash"] == sha(str(row["target"]))
    for resp in row["resps"]:
        assert resp[0][0] == str(float(resp[0][0])) and resp[0][1] in ("True", "False")
    hashes += row["doc_hash"] + row["prompt_hash"] + row["target_hash"]
assert r["task_hashes"]["t"] == sha(hashes)
print(len(r["results"]), r["results"]["t"]["acc,none"], r["results"]["t"]["acc_stderr,none"])
)"));
  if (!out.ok() && absl::IsNotFound(out.status())) {
    GTEST_SKIP() << out.status();
  }
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "1 0.5 0.5\n");
  // The null context is the sample's prompt.
  EXPECT_NE(exported->files[1].content.find(R"("arg_0": "Context 0 é\n")"),
            std::string::npos);
}

TEST(LmEvalFilesTest, ImportMapsGroupsSubtasksAndMetricNames) {
  const std::string results = R"({
  "results": {
    "mmlu": {"alias": "mmlu", "name": "mmlu", "sample_len": 3,
             "acc,none": 0.5, "acc_stderr,none": 0.1,
             "sample_count": {"acc,none": 3}},
    "mmlu_stem": {"alias": "stem", "name": "mmlu_stem", "sample_len": 3,
                  "acc,none": 0.5, "acc_stderr,none": 0.1},
    "mmlu_anatomy": {"name": "mmlu_anatomy", "alias": "anatomy",
                     "sample_len": 3, "acc,none": 0.5,
                     "acc_stderr,none": 0.1},
    "gsm8k": {"name": "gsm8k", "alias": "gsm8k", "sample_len": 1,
              "exact_match,strict-match": 1.0,
              "exact_match_stderr,strict-match": "N/A"}
  },
  "group_subtasks": {"mmlu": ["mmlu_stem"], "mmlu_stem": ["mmlu_anatomy"]},
  "versions": {"mmlu": 2, "mmlu_anatomy": 1.0, "gsm8k": 3.0},
  "configs": {"gsm8k": {"task": "gsm8k"}, "mmlu_anatomy": {"task": "mmlu_anatomy"}},
  "model_name": "m"
})";
  const std::string samples =
      R"({"doc_id": 4, "doc": {}, "target": "2", "arguments": {"gen_args_0": {"arg_0": "ctx", "arg_1": " A"}}, "resps": [[["-1.0", "False"]]], "filtered_resps": [["-1.0", "False"]], "filter": "none", "metrics": ["acc"], "acc": 1.0})"
      "\n";
  auto parsed = ParseLmEval({"/x/results_D.json", results},
                            std::vector<LmEvalInputFile>{
                                {"/x/samples_mmlu_anatomy_D.jsonl", samples}},
                            "", 7);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  std::map<std::string, std::string> got;
  for (const v1::TaskScores& t : parsed->scores) {
    for (const v1::Metric& m : t.metrics()) {
      got[absl::StrCat(t.task(), " ", m.name(), " ", m.group())] =
          absl::StrCat(m.value(), " ",
                       m.std_error_na() ? "N/A" : absl::StrCat(m.std_error()),
                       " ", m.count(), " ", m.aggregation());
    }
  }
  EXPECT_EQ(got, (std::map<std::string, std::string>{
                     {"mmlu acc ", "0.5 0.1 3 micro"},
                     {"mmlu acc stem", "0.5 0.1 3 micro"},
                     {"mmlu acc anatomy", "0.5 0.1 3 mean"},
                     {"gsm8k exact_match,strict-match ", "1 N/A 1 mean"}}));
  ASSERT_EQ(parsed->samples.size(), 1u);
  const v1::SampleRecord& s = parsed->samples[0];
  EXPECT_EQ(s.task(), "mmlu");
  EXPECT_EQ(s.subtask(), "anatomy");
  EXPECT_EQ(s.doc_id(), "anatomy/4");
  EXPECT_EQ(s.prompt(), "ctx");
  EXPECT_EQ(s.metrics().at("acc"), 1.0);
  EXPECT_EQ(parsed->run.spec().labels().at("imported"), "lm-eval");
  EXPECT_EQ(parsed->run.state(), v1::SUCCEEDED);
  ASSERT_EQ(parsed->run.fingerprint().tasks_size(), 2);
  EXPECT_EQ(parsed->run.fingerprint().tasks(0).name(), "mmlu");
  EXPECT_EQ(parsed->run.fingerprint().tasks(0).version(), "1.0");
  EXPECT_EQ(parsed->run.fingerprint().tasks(0).lm_eval_config_json(),
            R"({"mmlu_anatomy":{"task":"mmlu_anatomy"}})");
}

}  // namespace
}  // namespace evald::daemon
