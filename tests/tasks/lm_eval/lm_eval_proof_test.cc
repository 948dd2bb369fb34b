// File: tests/tasks/lm_eval/lm_eval_proof_test.cc
// -----------------------------------------------------------------------------
// The task YAML of examples/lm-eval-tasks against the built-in tasks: the
// MMLU and GSM8K files build the same prompts (context, continuations, stop
// strings) as the built-in `mmlu`, `gsm8k` and `gsm8k_cot` on every
// document of the project's example data, and score the same on a scripted
// runner (which stands for the model; the comparison is between two task
// implementations). The two shapes the built-ins lack (HellaSwag-like
// multiple choice, WikiText-like rolling perplexity) are checked against an
// independent Python construction of lm-eval's rules
// (lm_eval_reference.py, run with /usr/bin/python3).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/json.h"
#include "tasks/task.h"
#include "tests/tasks/task_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::tasks::lm_eval {
namespace {

using testing::FakeRunner;

std::string Source(const std::string& path) {
  const char* root = std::getenv("EVALD_SOURCE_DIR");
  return absl::StrCat(root != nullptr ? root : ".", "/", path);
}

std::vector<SampleResult> RunAll(Task& task, runners::Runner& runner) {
  std::vector<size_t> all(task.DocIds().size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  std::vector<SampleResult> samples;
  absl::Status st = task.Run(runner, all, RunContext{}, [&](SampleResult s) {
    samples.push_back(std::move(s));
    return absl::OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
  return samples;
}

std::map<std::string, const SampleResult*> ById(
    const std::vector<SampleResult>& samples) {
  std::map<std::string, const SampleResult*> out;
  for (const SampleResult& s : samples) out[s.doc_id] = &s;
  return out;
}

// A scripted score of a request: the same text gets the same number, and
// different choices different numbers.
double Score(const runners::LoglikelihoodRequest& r) {
  unsigned sum = 0;
  for (unsigned char c : r.continuation) sum += c;
  return -static_cast<double>(sum % 101) / 7.0 -
         static_cast<double>(r.context.size() % 13) / 10.0;
}

const MetricResult* Find(const std::vector<MetricResult>& results,
                         const std::string& name, const std::string& group) {
  for (const MetricResult& m : results) {
    if (m.name == name && m.group == group) return &m;
  }
  return nullptr;
}

TEST(LmEvalProofTest, MmluYamlMatchesBuiltInMmlu) {
  TaskOptions builtin_options;
  builtin_options.data_path = Source("examples/data/mmlu");
  builtin_options.shots = 5;
  ASSERT_OK_AND_ASSIGN(auto builtin, CreateTask("mmlu", builtin_options));
  TaskOptions yaml_options;
  yaml_options.task_file = Source("examples/lm-eval-tasks/mmlu");
  yaml_options.shots = 5;
  ASSERT_OK_AND_ASSIGN(auto yaml, CreateTask("mmlu", yaml_options));
  const std::vector<std::string> builtin_ids = builtin->DocIds();
  std::map<std::string, size_t> yaml_index;
  const std::vector<std::string> yaml_ids = yaml->DocIds();
  for (size_t i = 0; i < yaml_ids.size(); ++i) yaml_index[yaml_ids[i]] = i;
  ASSERT_EQ(builtin_ids.size(), yaml_ids.size());
  ASSERT_GT(builtin_ids.size(), 10u);
  for (size_t i = 0; i < builtin_ids.size(); ++i) {
    const std::string id = absl::StrCat("mmlu_", builtin_ids[i]);
    ASSERT_EQ(yaml_index.count(id), 1u) << id;
    ASSERT_OK_AND_ASSIGN(PromptView a, builtin->BuildPrompt(i));
    ASSERT_OK_AND_ASSIGN(PromptView b, yaml->BuildPrompt(yaml_index[id]));
    EXPECT_EQ(a.context, b.context) << id;
    EXPECT_EQ(a.continuations, b.continuations) << id;
    EXPECT_EQ(a.target, b.target) << id;
  }
  FakeRunner runner;
  runner.score = Score;
  const std::vector<SampleResult> a = RunAll(*builtin, runner);
  const std::vector<SampleResult> b = RunAll(*yaml, runner);
  auto by_id = ById(b);
  for (const SampleResult& s : a) {
    const SampleResult* t = by_id[absl::StrCat("mmlu_", s.doc_id)];
    ASSERT_NE(t, nullptr) << s.doc_id;
    EXPECT_EQ(s.metrics.at("acc"), t->metrics.at("acc")) << s.doc_id;
    EXPECT_EQ(s.prompt, t->prompt);
    EXPECT_EQ(t->subtask, absl::StrCat("mmlu_", s.subtask));
  }
  const std::vector<MetricResult> ra = builtin->Aggregate(a);
  const std::vector<MetricResult> rb = yaml->Aggregate(b);
  const std::map<std::string, std::string> groups = {
      {"", ""},
      {"stem", "mmlu_stem"},
      {"humanities", "mmlu_humanities"},
      {"social_sciences", "mmlu_social_sciences"},
      {"other", "mmlu_other"},
      {"nutrition", "mmlu_nutrition"},
      {"philosophy", "mmlu_philosophy"}};
  for (const auto& [builtin_group, yaml_group] : groups) {
    const MetricResult* x = Find(ra, "acc", builtin_group);
    const MetricResult* y = Find(rb, "acc", yaml_group);
    ASSERT_NE(x, nullptr) << builtin_group;
    ASSERT_NE(y, nullptr) << yaml_group;
    EXPECT_DOUBLE_EQ(x->value, y->value) << builtin_group;
    EXPECT_DOUBLE_EQ(x->stderr_value, y->stderr_value) << builtin_group;
    EXPECT_EQ(x->count, y->count) << builtin_group;
  }
  EXPECT_EQ(yaml->info().version, "2");
  EXPECT_EQ(yaml->info().shots, 5);
}

void ExpectGsm8kMatches(const std::string& builtin_name,
                        const std::string& yaml_file,
                        const std::string& yaml_name) {
  TaskOptions builtin_options;
  builtin_options.data_path = Source("examples/data/gsm8k");
  ASSERT_OK_AND_ASSIGN(auto builtin, CreateTask(builtin_name, builtin_options));
  TaskOptions yaml_options;
  yaml_options.task_file = Source(yaml_file);
  ASSERT_OK_AND_ASSIGN(auto yaml, CreateTask("", yaml_options));
  EXPECT_EQ(yaml->info().name, yaml_name);
  EXPECT_EQ(yaml->info().version, builtin->info().version);
  EXPECT_EQ(yaml->info().shots, builtin->info().shots);
  const size_t n = builtin->DocIds().size();
  ASSERT_EQ(yaml->DocIds().size(), n);
  ASSERT_GT(n, 0u);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(yaml->DocIds()[i], absl::StrCat(yaml_name, "/", i));
    ASSERT_OK_AND_ASSIGN(PromptView a, builtin->BuildPrompt(i));
    ASSERT_OK_AND_ASSIGN(PromptView b, yaml->BuildPrompt(i));
    EXPECT_EQ(a.context, b.context) << i;
    EXPECT_EQ(a.stop, b.stop) << i;
    EXPECT_EQ(a.max_new_tokens, b.max_new_tokens) << i;
    EXPECT_EQ(a.target, b.target) << i;
  }
  // Responses that exercise both filters: a strict answer, a right and a
  // wrong number without the strict form, nothing at all.
  FakeRunner runner;
  runner.generate = [](const runners::GenerateRequest& r) -> std::string {
    const size_t h = std::hash<std::string>()(r.prompt) % 4;
    if (h == 0) return "We add them.\n#### 12\nThe answer is 12.";
    if (h == 1) return "It is $1,234.50 in total";
    if (h == 2) return "So 7 apples. The answer is 7.";
    return "I do not know";
  };
  for (size_t i = 0; i < n; ++i) {
    ASSERT_OK_AND_ASSIGN(SampleResult s, builtin->ScoreResponse(i, "#### 5"));
    ASSERT_OK_AND_ASSIGN(SampleResult t, yaml->ScoreResponse(i, "#### 5"));
    EXPECT_EQ(s.metrics, t.metrics);
  }
  const std::vector<SampleResult> a = RunAll(*builtin, runner);
  const std::vector<SampleResult> b = RunAll(*yaml, runner);
  ASSERT_EQ(a.size(), b.size());
  auto by_index = [](const std::vector<SampleResult>& v) {
    std::map<size_t, const SampleResult*> out;
    for (const SampleResult& s : v) out[s.doc_index] = &s;
    return out;
  };
  auto ma = by_index(a);
  auto mb = by_index(b);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(ma[i]->metrics, mb[i]->metrics) << i;
    EXPECT_EQ(ma[i]->extracted, mb[i]->extracted) << i;
  }
  const std::vector<MetricResult> ra = builtin->Aggregate(a);
  const std::vector<MetricResult> rb = yaml->Aggregate(b);
  for (const char* key :
       {"exact_match,strict-match", "exact_match,flexible-extract"}) {
    const MetricResult* x = Find(ra, key, "");
    const MetricResult* y = Find(rb, key, "");
    ASSERT_NE(x, nullptr) << key;
    ASSERT_NE(y, nullptr) << key;
    EXPECT_DOUBLE_EQ(x->value, y->value) << key;
    EXPECT_DOUBLE_EQ(x->stderr_value, y->stderr_value) << key;
  }
}

TEST(LmEvalProofTest, Gsm8kYamlMatchesBuiltInGsm8k) {
  ExpectGsm8kMatches("gsm8k", "examples/lm-eval-tasks/gsm8k/gsm8k.yaml",
                     "gsm8k");
}

TEST(LmEvalProofTest, Gsm8kCotYamlMatchesBuiltInGsm8kCot) {
  ExpectGsm8kMatches("gsm8k_cot", "examples/lm-eval-tasks/gsm8k/gsm8k-cot.yaml",
                     "gsm8k_cot");
}

// Under the model's chat template (lm-eval's multi-turn few-shot, no
// leading space on choices) the YAML tasks send what the built-ins send.
TEST(LmEvalProofTest, ChatTemplateRequestsMatchBuiltIns) {
  struct Pair {
    std::string builtin;
    std::string data;
    std::string yaml_file;
    std::string yaml_name;
  };
  for (const Pair& p :
       std::vector<Pair>{{"mmlu", "examples/data/mmlu",
                          "examples/lm-eval-tasks/mmlu", "mmlu"},
                         {"gsm8k", "examples/data/gsm8k",
                          "examples/lm-eval-tasks/gsm8k/gsm8k.yaml", ""},
                         {"gsm8k_cot", "examples/data/gsm8k",
                          "examples/lm-eval-tasks/gsm8k/gsm8k-cot.yaml", ""}}) {
    TaskOptions builtin_options;
    builtin_options.data_path = Source(p.data);
    builtin_options.chat_template = true;
    builtin_options.system_instruction = "Be brief.";
    ASSERT_OK_AND_ASSIGN(auto builtin, CreateTask(p.builtin, builtin_options));
    TaskOptions yaml_options = builtin_options;
    yaml_options.data_path.clear();
    yaml_options.task_file = Source(p.yaml_file);
    if (p.builtin == "mmlu") {
      builtin_options.shots = 5;
      yaml_options.shots = 5;
      ASSERT_OK_AND_ASSIGN(builtin, CreateTask(p.builtin, builtin_options));
    }
    ASSERT_OK_AND_ASSIGN(auto yaml, CreateTask(p.yaml_name, yaml_options));
    FakeRunner a_runner;
    FakeRunner b_runner;
    a_runner.score = Score;
    b_runner.score = Score;
    std::vector<SampleResult> a = RunAll(*builtin, a_runner);
    std::vector<SampleResult> b = RunAll(*yaml, b_runner);
    ASSERT_EQ(a.size(), b.size());
    std::multiset<std::string> sent_a;
    std::multiset<std::string> sent_b;
    for (const auto& r : a_runner.ll_requests)
      sent_a.insert(r.context + "|" + r.continuation);
    for (const auto& r : b_runner.ll_requests)
      sent_b.insert(r.context + "|" + r.continuation);
    for (const auto& r : a_runner.gen_requests) {
      std::string chat;
      for (const auto& m : r.messages) chat += m.role + ":" + m.content + "|";
      sent_a.insert(chat + absl::StrJoin(r.stop, ","));
    }
    for (const auto& r : b_runner.gen_requests) {
      std::string chat;
      for (const auto& m : r.messages) chat += m.role + ":" + m.content + "|";
      sent_b.insert(chat + absl::StrJoin(r.stop, ","));
    }
    EXPECT_FALSE(sent_a.empty()) << p.builtin;
    EXPECT_EQ(sent_a, sent_b) << p.builtin;
  }
}

// Runs lm_eval_reference.py on a task YAML; its JSON answer, or null when
// /usr/bin/python3 with jinja2 and yaml is not there.
std::optional<base::Json> Reference(const std::string& yaml) {
  if (std::system("/usr/bin/python3 -c 'import jinja2, yaml' 2>/dev/null") != 0)
    return std::nullopt;
  const std::string out = testing::RunPython(absl::StrCat(
      "import runpy, sys\nsys.argv = ['ref', '", Source(yaml), "']\n",
      "runpy.run_path('", Source("tests/tasks/lm_eval/lm_eval_reference.py"),
      "', run_name='__main__')\n"));
  auto parsed = base::ParseJson(out);
  EXPECT_TRUE(parsed.ok()) << out;
  if (!parsed.ok()) return std::nullopt;
  return *parsed;
}

void ExpectMatchesReference(const std::string& yaml_file) {
  std::optional<base::Json> ref = Reference(yaml_file);
  if (!ref.has_value())
    GTEST_SKIP() << "no /usr/bin/python3 with jinja2 and yaml";
  TaskOptions options;
  options.task_file = Source(yaml_file);
  ASSERT_OK_AND_ASSIGN(auto task, CreateTask("", options));
  const base::Json::Array& docs = ref->Find("docs")->array();
  ASSERT_EQ(task->DocIds().size(), docs.size());
  ASSERT_GT(docs.size(), 2u);
  for (size_t i = 0; i < docs.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(PromptView view, task->BuildPrompt(i));
    EXPECT_EQ(view.context, docs[i].Find("context")->string_value()) << i;
    std::vector<std::string> continuations;
    for (const base::Json& c : docs[i].Find("continuations")->array())
      continuations.push_back(c.string_value());
    EXPECT_EQ(view.continuations, continuations) << i;
  }
  FakeRunner runner;
  runner.score = Score;
  const std::vector<MetricResult> results =
      task->Aggregate(RunAll(*task, runner));
  int compared = 0;
  for (const auto& [key, value] : ref->Find("metrics")->object()) {
    // lm-eval's "acc,none" is evald's "acc" (tasks/lm_eval/scoring.h).
    const std::string name =
        absl::EndsWith(key, ",none") ? key.substr(0, key.size() - 5) : key;
    const MetricResult* m = Find(results, name, "");
    ASSERT_NE(m, nullptr) << key;
    EXPECT_NEAR(m->value, value.number_value(), 1e-9) << key;
    const base::Json* se = ref->Find("stderr")->Find(key);
    if (se != nullptr && se->is_number()) {
      EXPECT_FALSE(m->stderr_na) << key;
      EXPECT_NEAR(m->stderr_value, se->number_value(), 1e-9) << key;
    } else {
      EXPECT_TRUE(m->stderr_na) << key;
    }
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(results.size()));
}

TEST(LmEvalProofTest, HellaswagShapedTaskMatchesPythonReference) {
  ExpectMatchesReference(
      "examples/lm-eval-tasks/hellaswag_like/hellaswag_like.yaml");
}

TEST(LmEvalProofTest, WikitextShapedTaskMatchesPythonReference) {
  ExpectMatchesReference(
      "examples/lm-eval-tasks/wikitext_like/wikitext_like.yaml");
}

// Every prompt of two tasks, compared; returns the number compared.
size_t ExpectSamePrompts(const Task& builtin, const Task& yaml,
                         const std::string& yaml_id_prefix) {
  std::map<std::string, size_t> yaml_index;
  const std::vector<std::string> yaml_ids = yaml.DocIds();
  for (size_t i = 0; i < yaml_ids.size(); ++i) yaml_index[yaml_ids[i]] = i;
  const std::vector<std::string> ids = builtin.DocIds();
  EXPECT_EQ(ids.size(), yaml_ids.size());
  size_t same = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = yaml_index.find(absl::StrCat(yaml_id_prefix, ids[i]));
    if (it == yaml_index.end()) {
      ADD_FAILURE() << "no YAML document for " << ids[i];
      continue;
    }
    auto a = builtin.BuildPrompt(i);
    auto b = yaml.BuildPrompt(it->second);
    if (!a.ok() || !b.ok()) {
      ADD_FAILURE() << ids[i];
      continue;
    }
    const bool equal = a->context == b->context &&
                       a->continuations == b->continuations &&
                       a->stop == b->stop && a->target == b->target &&
                       a->max_new_tokens == b->max_new_tokens;
    EXPECT_TRUE(equal) << ids[i];
    same += equal ? 1 : 0;
  }
  return same;
}

// The full datasets (not committed): EVALD_REAL_DATASETS names a folder
// with mmlu/{dev,test}/*.csv and gsm8k/{train,test}.jsonl as `evalctl
// datasets fetch` leaves them. Skipped without it.
TEST(LmEvalProofTest, RealDataPromptsMatchBuiltIns) {
  const char* real = std::getenv("EVALD_REAL_DATASETS");
  if (real == nullptr) GTEST_SKIP() << "EVALD_REAL_DATASETS is not set";
  const std::string root = real;
  ::evald::testing::TempDir dir;
  // MMLU: every subject's task file and data, made by the example's script,
  // beside the example's template and group files.
  ASSERT_EQ(std::system(absl::StrCat("/usr/bin/python3 ",
                                     Source("examples/lm-eval-tasks/mmlu/"
                                            "make_mmlu_tasks.py"),
                                     " ", root, "/mmlu ", dir.Join("mmlu"))
                            .c_str()),
            0);
  for (const char* name :
       {"_default_template_yaml", "_mmlu.yaml", "_mmlu_stem.yaml",
        "_mmlu_other.yaml", "_mmlu_social_sciences.yaml",
        "_mmlu_humanities.yaml"}) {
    ASSERT_OK_AND_ASSIGN(std::string text,
                         base::ReadFileToString(Source(absl::StrCat(
                             "examples/lm-eval-tasks/mmlu/", name))));
    ::evald::testing::WriteTestFile(dir.Join(absl::StrCat("mmlu/", name)),
                                    text);
  }
  for (int shots : {0, 5}) {
    TaskOptions builtin_options;
    builtin_options.data_path = root + "/mmlu";
    builtin_options.shots = shots;
    ASSERT_OK_AND_ASSIGN(auto builtin, CreateTask("mmlu", builtin_options));
    TaskOptions yaml_options;
    yaml_options.task_file = dir.Join("mmlu");
    yaml_options.shots = shots;
    ASSERT_OK_AND_ASSIGN(auto yaml, CreateTask("mmlu", yaml_options));
    const size_t same = ExpectSamePrompts(*builtin, *yaml, "mmlu_");
    std::printf("mmlu %d-shot: %zu of %zu prompts equal\n", shots, same,
                builtin->DocIds().size());
  }
  // GSM8K: the example files pointed at the real data.
  for (const auto& [builtin_name, file] :
       std::vector<std::pair<std::string, std::string>>{
           {"gsm8k", "gsm8k.yaml"}, {"gsm8k_cot", "gsm8k-cot.yaml"}}) {
    ASSERT_OK_AND_ASSIGN(std::string text,
                         base::ReadFileToString(Source(absl::StrCat(
                             "examples/lm-eval-tasks/gsm8k/", file))));
    text = absl::StrReplaceAll(
        text, {{"dataset_path: ../../data/gsm8k",
                absl::StrCat("dataset_path: ", root, "/gsm8k")}});
    ::evald::testing::WriteTestFile(dir.Join(file), text);
    TaskOptions builtin_options;
    builtin_options.data_path = root + "/gsm8k";
    ASSERT_OK_AND_ASSIGN(auto builtin,
                         CreateTask(builtin_name, builtin_options));
    TaskOptions yaml_options;
    yaml_options.task_file = dir.Join(file);
    ASSERT_OK_AND_ASSIGN(auto yaml, CreateTask("", yaml_options));
    const size_t same =
        ExpectSamePrompts(*builtin, *yaml, absl::StrCat(builtin_name, "/"));
    std::printf("%s: %zu of %zu prompts equal\n", builtin_name.c_str(), same,
                builtin->DocIds().size());
  }
}

}  // namespace
}  // namespace evald::tasks::lm_eval
