// File: tests/tasks/lm_eval/lm_eval_task_test.cc
// -----------------------------------------------------------------------------
// The lm-eval task over configs built in code: prompt assembly, the
// field-vs-template and isdigit rules, few-shot sampling against
// PythonRandom, filters, exact_match, the output types' metrics, group
// aggregation, and the errors that refuse a task before it runs.
#include "tasks/lm_eval/lm_eval_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "tasks/lm_eval/scoring.h"
#include "tasks/python_random.h"
#include "tests/tasks/task_test_util.h"
#include "tests/testing/status_matchers.h"

namespace evald::tasks::lm_eval {
namespace {

using ::evald::testing::StatusIs;
using ::testing::ElementsAre;
using testing::FakeRunner;
using ::testing::HasSubstr;

base::Json J(const std::string& text) {
  auto v = base::ParseJson(text);
  EXPECT_TRUE(v.ok()) << text;
  return *v;
}

DocField Str(const std::string& s) {
  DocField f;
  f.kind = DocField::Kind::kString;
  f.text = s;
  f.origin = {"t.yaml", 3, 1};
  return f;
}

DocField List(std::vector<std::string> items) {
  DocField f;
  f.kind = DocField::Kind::kList;
  f.list = std::move(items);
  return f;
}

std::vector<Doc> Docs(const std::vector<std::string>& lines,
                      const std::string& file = "d.jsonl") {
  std::vector<Doc> out;
  for (size_t i = 0; i < lines.size(); ++i)
    out.push_back({J(lines[i]), absl::StrCat(file, ":", i + 1)});
  return out;
}

std::vector<std::string> Contexts(const Task& task) {
  std::vector<std::string> out;
  for (size_t i = 0; i < task.DocIds().size(); ++i) {
    auto view = task.BuildPrompt(i);
    EXPECT_TRUE(view.ok()) << view.status();
    out.push_back(view.ok() ? view->context : "");
  }
  return out;
}

std::map<std::string, double> Metrics(const std::vector<MetricResult>& results,
                                      const std::string& group) {
  std::map<std::string, double> out;
  for (const MetricResult& m : results) {
    if (m.group == group) out[m.name] = m.value;
  }
  return out;
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
  std::sort(samples.begin(), samples.end(),
            [](const SampleResult& a, const SampleResult& b) {
              return a.doc_index < b.doc_index;
            });
  return samples;
}

TaskConfig QaConfig() {
  TaskConfig c;
  c.task = "qa";
  c.file = "t.yaml";
  c.origin = {"t.yaml", 1, 1};
  c.output_type = "generate_until";
  c.doc_to_text = Str("Q: {{q}}\nA:");
  c.doc_to_target = Str("a");  // a column
  c.generation_kwargs.until = {"\n\n"};
  c.generation_kwargs.until_set = true;
  return c;
}

TEST(LmEvalTaskTest, PlainPromptWithDescriptionAndFirstNShots) {
  LeafTask leaf;
  leaf.config = QaConfig();
  leaf.config.description = Str("About {{topic}}.\n\n");
  leaf.config.num_fewshot = 2;
  leaf.config.fewshot_config.sampler = "first_n";
  leaf.docs.eval = Docs({R"({"q": "1+1", "a": "2", "topic": "sums"})"});
  leaf.docs.fewshot =
      Docs({R"({"q": "2+2", "a": "4"})", R"({"q": "3+3", "a": "6"})",
            R"({"q": "4+4", "a": "8"})"},
           "train.jsonl");
  TaskOptions options;
  ASSERT_OK_AND_ASSIGN(auto task,
                       CreateLmEvalTask("qa", {leaf}, {}, {}, options));
  EXPECT_THAT(task->DocIds(), ElementsAre("qa/0"));
  ASSERT_OK_AND_ASSIGN(PromptView view, task->BuildPrompt(0));
  EXPECT_EQ(view.context,
            "About sums.\n\nQ: 2+2\nA: 4\n\nQ: 3+3\nA: 6\n\nQ: 1+1\nA:");
  EXPECT_EQ(view.target, "2");
  EXPECT_THAT(view.stop, ElementsAre("\n\n"));
  EXPECT_EQ(view.max_new_tokens, 256);
  // TaskOptions::shots overrides num_fewshot; the version is metadata's.
  options.shots = 0;
  leaf.config.version = "2.5";
  ASSERT_OK_AND_ASSIGN(task, CreateLmEvalTask("qa", {leaf}, {}, {}, options));
  EXPECT_THAT(Contexts(*task), ElementsAre("About sums.\n\nQ: 1+1\nA:"));
  EXPECT_EQ(task->info().version, "2.5");
  EXPECT_EQ(task->info().shots, 0);
}

TEST(LmEvalTaskTest, FewshotConfigDelimitersApplyToTheExamplesOnly) {
  LeafTask leaf;
  leaf.config = QaConfig();
  leaf.config.description = Str("Desc.");
  leaf.config.num_fewshot = 1;
  leaf.config.fewshot_config.sampler = "first_n";
  leaf.config.fewshot_config.target_delimiter = "=";
  leaf.config.fewshot_config.fewshot_delimiter = "|";
  leaf.docs.eval = Docs({R"({"q": "1+1", "a": "2"})"});
  leaf.docs.fewshot = Docs({R"({"q": "2+2", "a": "4"})"});
  TaskOptions options;
  options.system_instruction = "Sys.";
  ASSERT_OK_AND_ASSIGN(auto task,
                       CreateLmEvalTask("qa", {leaf}, {}, {}, options));
  // maybe_delimit(system, description, task's "\n\n"), then the example
  // with the few-shot config's delimiters.
  EXPECT_THAT(Contexts(*task),
              ElementsAre("Sys.\n\nDesc.Q: 2+2\nA:=4|Q: 1+1\nA:"));
}

TEST(LmEvalTaskTest, DefaultSamplerDrawsLikeRandomSampleOncePerTask) {
  // Few-shot split == eval split: n+1 drawn in document order from one
  // generator, the eval document dropped, the first n kept.
  std::vector<std::string> lines;
  for (int i = 0; i < 12; ++i)
    lines.push_back(absl::StrCat(R"({"q": "q)", i, R"(", "a": "a)", i, "\"}"));
  LeafTask leaf;
  leaf.config = QaConfig();
  leaf.config.num_fewshot = 3;
  leaf.docs.eval = Docs(lines);
  leaf.docs.fewshot = Docs(lines);
  leaf.docs.fewshot_is_eval = true;
  TaskOptions options;
  options.seed = 77;
  ASSERT_OK_AND_ASSIGN(auto task,
                       CreateLmEvalTask("qa", {leaf}, {}, {}, options));
  PythonRandom rng(77);
  const std::vector<std::string> contexts = Contexts(*task);
  ASSERT_EQ(contexts.size(), 12u);
  for (size_t d = 0; d < 12; ++d) {
    ASSERT_OK_AND_ASSIGN(std::vector<uint64_t> drawn, rng.Sample(12, 4));
    std::string expected;
    int kept = 0;
    for (uint64_t k : drawn) {
      if (k == d || kept == 3) continue;
      absl::StrAppend(&expected, "Q: q", k, "\nA: a", k, "\n\n");
      ++kept;
    }
    absl::StrAppend(&expected, "Q: q", d, "\nA:");
    EXPECT_EQ(contexts[d], expected) << "document " << d;
  }
  // A limit keeps the first documents' examples.
  options.limit = 2;
  ASSERT_OK_AND_ASSIGN(auto limited,
                       CreateLmEvalTask("qa", {leaf}, {}, {}, options));
  EXPECT_THAT(Contexts(*limited), ElementsAre(contexts[0], contexts[1]));
}

TEST(LmEvalTaskTest, GenerateUntilFiltersAndExactMatch) {
  LeafTask leaf;
  leaf.config = QaConfig();
  FilterPipeline strict;
  strict.name = "strict";
  FilterStep regex;
  regex.function = "regex";
  regex.regex_pattern = R"(answer is (\-?[0-9]+))";
  strict.steps = {regex, FilterStep{"take_first"}};
  FilterPipeline loose;
  loose.name = "loose";
  FilterStep last;
  last.function = "regex";
  last.regex_pattern = R"((-?[0-9]+)|([A-Z]+))";
  last.group_select = -1;
  loose.steps = {last, FilterStep{"lowercase"}, FilterStep{"take_first"}};
  leaf.config.filter_list = {strict, loose};
  MetricConfig em;
  em.metric = "exact_match";
  em.ignore_case = true;
  em.regexes_to_ignore = {","};
  leaf.config.metric_list = {em};
  leaf.docs.eval =
      Docs({R"({"q": "a", "a": "1,000"})", R"({"q": "b", "a": "xyz"})",
            R"({"q": "c", "a": "7"})"});
  ASSERT_OK_AND_ASSIGN(auto task,
                       CreateLmEvalTask("qa", {leaf}, {}, {}, TaskOptions()));
  FakeRunner runner;
  runner.generate = [](const runners::GenerateRequest& r) -> std::string {
    if (r.prompt.find("Q: a") != std::string::npos)
      return "so the answer is 1000 ok";
    if (r.prompt.find("Q: b") != std::string::npos) return "2 then XYZ";
    return "nothing";
  };
  std::vector<SampleResult> samples = RunAll(*task, runner);
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[0].metrics.at("exact_match,strict"), 1);
  EXPECT_EQ(samples[0].metrics.at("exact_match,loose"), 1);
  EXPECT_EQ(samples[1].metrics.at("exact_match,strict"), 0);  // [invalid]
  EXPECT_EQ(samples[1].metrics.at("exact_match,loose"), 1);   // "xyz"
  EXPECT_EQ(samples[2].metrics.at("exact_match,loose"), 0);
  EXPECT_EQ(samples[1].extracted, "strict: [invalid]; loose: xyz");
  ASSERT_OK_AND_ASSIGN(base::Json record,
                       base::ParseJson(samples[1].lm_eval_json));
  EXPECT_EQ(record.Find("filtered_resps")->Find("loose")->Dump(), R"(["xyz"])");
  EXPECT_EQ(record.Find("doc")->Find("a")->string_value(), "xyz");
  EXPECT_EQ(record.Find("target")->string_value(), "xyz");
  const auto m = Metrics(task->Aggregate(samples), "");
  EXPECT_DOUBLE_EQ(m.at("exact_match,strict"), 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.at("exact_match,loose"), 2.0 / 3);
  ASSERT_OK_AND_ASSIGN(SampleResult scored, task->ScoreResponse(2, "7"));
  EXPECT_EQ(scored.metrics.at("exact_match,loose"), 1);
}

TEST(LmEvalTaskTest, MultipleChoiceAccNormAndMutualInfo) {
  LeafTask leaf;
  leaf.config.task = "mc";
  leaf.config.output_type = "multiple_choice";
  leaf.config.doc_to_text = Str("{{ctx}}");
  leaf.config.doc_to_choice = Str("{{options}}");  // a list, literal_eval'd
  leaf.config.doc_to_target = Str("{{label}}");    // "1" -> 1
  for (const char* metric : {"acc", "acc_norm", "acc_mutual_info"}) {
    MetricConfig m;
    m.metric = metric;
    leaf.config.metric_list.push_back(m);
  }
  leaf.docs.eval = Docs(
      {R"({"ctx": "He", "options": ["ran far away.", "x", "it's"], "label": "0"})"});
  ASSERT_OK_AND_ASSIGN(auto task,
                       CreateLmEvalTask("mc", {leaf}, {}, {}, TaskOptions()));
  ASSERT_OK_AND_ASSIGN(PromptView view, task->BuildPrompt(0));
  EXPECT_EQ(view.context, "He");
  EXPECT_THAT(view.continuations, ElementsAre(" ran far away.", " x", " it's"));
  EXPECT_EQ(view.target, "ran far away.");
  FakeRunner runner;
  // acc picks "x" (-2 > -6); acc_norm divides by characters: -6/13 beats
  // -2/1; mutual information subtracts the unconditional score.
  runner.score = [](const runners::LoglikelihoodRequest& r) {
    if (r.context.empty()) return r.continuation == " x" ? -0.5 : -1.0;
    if (r.continuation == " ran far away.") return -6.0;
    if (r.continuation == " x") return -2.0;
    return -7.0;
  };
  std::vector<SampleResult> samples = RunAll(*task, runner);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(runner.ll_requests.size(), 6u);  // 3 + 3 unconditional
  EXPECT_EQ(samples[0].metrics.at("acc"), 0);
  EXPECT_EQ(samples[0].metrics.at("acc_norm"), 1);
  // -6 - -1 = -5, -2 - -0.5 = -1.5, -7 - -1 = -6: "x" wins.
  EXPECT_EQ(samples[0].metrics.at("acc_mutual_info"), 0);
  EXPECT_EQ(samples[0].subtask, "mc");
}

TEST(LmEvalTaskTest, LoglikelihoodAndMultipleTargets) {
  // loglikelihood: (context, target) with no delimiter added; acc is
  // is_greedy, perplexity exp(-mean).
  LeafTask ll;
  ll.config.task = "ll";
  ll.config.output_type = "loglikelihood";
  ll.config.doc_to_text = Str("{{a}}");
  ll.config.doc_to_target = Str("{{' ' + b}}");
  ll.docs.eval = Docs({R"({"a": "x", "b": "y"})", R"({"a": "p", "b": "q"})"});
  ASSERT_OK_AND_ASSIGN(auto task,
                       CreateLmEvalTask("ll", {ll}, {}, {}, TaskOptions()));
  ASSERT_OK_AND_ASSIGN(PromptView view, task->BuildPrompt(0));
  EXPECT_EQ(view.context, "x");
  EXPECT_THAT(view.continuations, ElementsAre(" y"));
  FakeRunner runner;
  runner.score = [](const runners::LoglikelihoodRequest& r) {
    return r.continuation == " y" ? -1.0 : -3.0;
  };
  auto m = Metrics(task->Aggregate(RunAll(*task, runner)), "");
  EXPECT_DOUBLE_EQ(m.at("perplexity"), std::exp(2.0));
  EXPECT_DOUBLE_EQ(m.at("acc"), 0);  // the fake is never greedy
  // multiple_choice with a list target: any gold index counts.
  LeafTask mc;
  mc.config.task = "mc";
  mc.config.output_type = "multiple_choice";
  mc.config.doc_to_text = Str("{{q}}");
  mc.config.doc_to_choice = List({"a", "b", "c"});
  mc.config.doc_to_target = Str("golds");
  mc.docs.eval = Docs({R"({"q": "one", "golds": [0, 2]})",
                       R"({"q": "two", "golds": [0, 1]})",
                       R"({"q": "three", "golds": "c"})"});
  ASSERT_OK_AND_ASSIGN(task,
                       CreateLmEvalTask("mc", {mc}, {}, {}, TaskOptions()));
  runner.score = [](const runners::LoglikelihoodRequest& r) {
    return r.continuation == " c" ? -1.0 : -2.0;
  };
  std::vector<SampleResult> samples = RunAll(*task, runner);
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[0].metrics.at("acc"), 1);
  EXPECT_EQ(samples[1].metrics.at("acc"), 0);
  EXPECT_EQ(samples[2].metrics.at("acc"), 1);  // a string gold
}

TEST(LmEvalTaskTest, RollingPerplexityAggregatesByWordsAndBytes) {
  LeafTask leaf;
  leaf.config.task = "wiki";
  leaf.config.output_type = "loglikelihood_rolling";
  leaf.config.doc_to_target = Str("text");
  leaf.docs.eval = Docs({R"({"text": "a b  c"})", R"({"text": "d\u00e9"})"});
  ASSERT_OK_AND_ASSIGN(auto task,
                       CreateLmEvalTask("wiki", {leaf}, {}, {}, TaskOptions()));
  FakeRunner runner;
  runner.score = [](const runners::LoglikelihoodRequest& r) {
    EXPECT_EQ(r.context, "");
    return r.continuation == "a b  c" ? -3.0 : -2.0;
  };
  std::vector<SampleResult> samples = RunAll(*task, runner);
  const auto m = Metrics(task->Aggregate(samples), "");
  // words 3 + 1, bytes 6 + 3.
  EXPECT_DOUBLE_EQ(m.at("word_perplexity"), std::exp(5.0 / 4));
  EXPECT_DOUBLE_EQ(m.at("byte_perplexity"), std::exp(5.0 / 9));
  EXPECT_DOUBLE_EQ(m.at("bits_per_byte"), 5.0 / 9 / std::log(2.0));
}

TEST(LmEvalTaskTest, GroupsAggregateMicroAndMacroWithPooledStderr) {
  auto leaf = [](const std::string& name, std::vector<std::string> lines) {
    LeafTask l;
    l.config.task = name;
    l.config.tags = {"all_tags"};
    l.config.output_type = "multiple_choice";
    l.config.doc_to_text = Str("{{q}}");
    l.config.doc_to_choice = List({"yes", "no"});
    l.config.doc_to_target = Str("gold");
    l.docs.eval = Docs(lines);
    return l;
  };
  std::vector<LeafTask> leaves = {
      leaf("t1", {R"({"q": "a", "gold": 0})", R"({"q": "b", "gold": 1})"}),
      leaf("t2", {R"({"q": "c", "gold": 0})", R"({"q": "d", "gold": 0})",
                  R"({"q": "e", "gold": 0})", R"({"q": "f", "gold": 1})"})};
  GroupConfig micro;
  micro.group = "g";
  micro.members = {"inner", "t2"};
  AggregateMetric acc;
  acc.metric = "acc";
  micro.aggregate_metric_list = {acc};
  GroupConfig inner;
  inner.group = "inner";
  inner.members = {"all_tags"};  // a tag: both leaves
  acc.weight_by_size = false;
  inner.aggregate_metric_list = {acc};
  ASSERT_OK_AND_ASSIGN(auto task, CreateLmEvalTask("g", leaves, {micro, inner},
                                                   {}, TaskOptions()));
  EXPECT_THAT(task->DocIds(),
              ElementsAre("t1/0", "t1/1", "t2/0", "t2/1", "t2/2", "t2/3"));
  FakeRunner runner;  // always "yes": t1 1/2, t2 3/4
  runner.score = [](const runners::LoglikelihoodRequest& r) {
    return r.continuation == " yes" ? -1.0 : -2.0;
  };
  const std::vector<MetricResult> results =
      task->Aggregate(RunAll(*task, runner));
  EXPECT_DOUBLE_EQ(Metrics(results, "t1").at("acc"), 0.5);
  EXPECT_DOUBLE_EQ(Metrics(results, "t2").at("acc"), 0.75);
  EXPECT_DOUBLE_EQ(Metrics(results, "").at("acc"), 4.0 / 6);
  EXPECT_DOUBLE_EQ(Metrics(results, "inner").at("acc"), 0.625);
  for (const MetricResult& m : results) {
    if (m.group != "") continue;
    const double se1 = std::sqrt(0.5 / 2);   // sample sd 0.7071 / sqrt 2
    const double se2 = std::sqrt(0.25 / 4);  // sample sd 0.5 / sqrt 4
    // lm-eval's pooled_sample_stderr over the two leaves.
    const double pooled =
        std::sqrt((1 * se1 * se1 * 2 + 3 * se2 * se2 * 4) / (6.0 - 2) / 6);
    EXPECT_DOUBLE_EQ(m.stderr_value, pooled);
    EXPECT_EQ(m.count, 6);
  }
}

TEST(LmEvalTaskTest, ATemplateThatFailsNamesTheDocumentAndKey) {
  LeafTask leaf;
  leaf.config = QaConfig();
  leaf.docs.eval =
      Docs({R"({"q": "ok", "a": "1"})", R"({"qq": "no", "a": "2"})"},
           "data/test.jsonl");
  EXPECT_THAT(CreateLmEvalTask("qa", {leaf}, {}, {}, TaskOptions()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data/test.jsonl:2: doc_to_text (t.yaml:3:1)"
                                 ": line 1, column 6: 'q' is undefined")));
  leaf.config.output_type = "multiple_choice";
  leaf.config.doc_to_choice = Str("{{q}}");
  leaf.docs.eval = Docs({R"({"q": "not a list", "a": "1"})"});
  EXPECT_THAT(CreateLmEvalTask("qa", {leaf}, {}, {}, TaskOptions()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("d.jsonl:1: doc_to_choice")));
  LeafTask shots;
  shots.config = QaConfig();
  shots.config.num_fewshot = 5;
  shots.docs.eval = Docs({R"({"q": "ok", "a": "1"})"});
  shots.docs.fewshot = Docs({R"({"q": "ok", "a": "1"})"});
  EXPECT_THAT(CreateLmEvalTask("qa", {shots}, {}, {}, TaskOptions()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("5 few-shot examples asked, the few-shot "
                                 "pool has 1")));
}

TEST(LmEvalTaskTest, CancelledDocumentsAreNotStoredAndErrorsAreRecorded) {
  LeafTask leaf;
  leaf.config.task = "mc";
  leaf.config.output_type = "multiple_choice";
  leaf.config.doc_to_text = Str("{{q}}");
  leaf.config.doc_to_choice = List({"a", "b"});
  leaf.config.doc_to_target = Str("gold");
  leaf.docs.eval =
      Docs({R"({"q": "one", "gold": 0})", R"({"q": "two", "gold": 1})",
            R"({"q": "three", "gold": 0})"});
  ASSERT_OK_AND_ASSIGN(auto task,
                       CreateLmEvalTask("mc", {leaf}, {}, {}, TaskOptions()));
  // A failing request fails its document only, with what was asked kept.
  FakeRunner failing;
  failing.fail_context_containing = "two";
  std::vector<SampleResult> samples = RunAll(*task, failing);
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[0].error, "");
  EXPECT_THAT(samples[1].error, HasSubstr("request "));
  ASSERT_OK_AND_ASSIGN(base::Json record,
                       base::ParseJson(samples[1].lm_eval_json));
  EXPECT_EQ(record.Find("arguments")->Dump(), R"([["two"," a"],["two"," b"]])");
  EXPECT_EQ(record.Find("resps")->Dump(), "[]");
  EXPECT_EQ(record.Find("target")->Dump(), "1");  // the gold index
  // Cancelled mid-call (a generation task; the FakeRunner answers in
  // reverse order and raises the flag before documents 0 and 1): the run
  // says so and hands over at most the documents that finished.
  LeafTask qa;
  qa.config = QaConfig();
  qa.docs.eval = Docs({R"({"q": "1", "a": "1"})", R"({"q": "2", "a": "2"})",
                       R"({"q": "3", "a": "3"})"});
  ASSERT_OK_AND_ASSIGN(auto gen,
                       CreateLmEvalTask("qa", {qa}, {}, {}, TaskOptions()));
  std::atomic<bool> cancelled{false};
  FakeRunner runner;
  runner.raise_before_index_flag = &cancelled;
  runner.raise_before_index = 2;
  RunContext context;
  context.cancelled = &cancelled;
  std::vector<std::string> stored;
  std::vector<size_t> all = {0, 1, 2};
  absl::Status st = gen->Run(runner, all, context, [&](SampleResult s) {
    stored.push_back(s.doc_id);
    return absl::OkStatus();
  });
  EXPECT_THAT(st, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(stored, ::testing::IsSubsetOf({"qa/2", "qa/1", "qa/0"}));
  EXPECT_GE(stored.size(), 1u);
  // A sink that fails stops the run with its status.
  FakeRunner plain;
  st = task->Run(plain, all, RunContext{},
                 [](SampleResult) { return absl::DataLossError("disk full"); });
  EXPECT_THAT(st, StatusIs(absl::StatusCode::kDataLoss));
}

TEST(ScoringTest, PythonLiterals) {
  ASSERT_OK_AND_ASSIGN(
      base::Json v, ParsePythonLiteral(R"(['a', "it's", 'x\'y', 'caf\xe9'])"));
  EXPECT_EQ(v.Dump(), R"(["a","it's","x'y","café"])");
  ASSERT_OK_AND_ASSIGN(v, ParsePythonLiteral("(1, -2.5, True, None)"));
  EXPECT_EQ(v.Dump(), "[1,-2.5,true,null]");
  EXPECT_FALSE(ParsePythonLiteral("[a]").ok());
  EXPECT_FALSE(ParsePythonLiteral("007").ok());
  EXPECT_FALSE(ParsePythonLiteral("['x'").ok());
}

TEST(ScoringTest, PerplexityBootstrapMatchesPython) {
  const std::vector<double> xs = {-1.25, -0.5, -3.0, -2.75, -0.125, -1.0, -4.5};
  // lm-eval's bootstrap_stderr(perplexity, xs, 100000), single process.
  const std::string out = testing::RunPython(
      "import math, random\n"
      "xs = [-1.25, -0.5, -3.0, -2.75, -0.125, -1.0, -4.5]\n"
      "res = []\n"
      "for i in range(100):\n"
      "    rnd = random.Random(i)\n"
      "    for _ in range(1000):\n"
      "        s = rnd.choices(xs, k=len(xs))\n"
      "        res.append(math.exp(-(sum(s) / len(s))))\n"
      "mu = sum(res) / len(res)\n"
      "print(repr(math.sqrt(sum((x - mu) ** 2 for x in res) / (len(res) - "
      "1))))\n");
  EXPECT_DOUBLE_EQ(PerplexityBootstrapStderr(xs), std::stod(out)) << out;
}

TEST(ScoringTest, FiltersAsLmEval) {
  FilterPipeline p;
  p.name = "maj";
  p.steps = {FilterStep{"remove_whitespace"}, FilterStep{"uppercase"},
             FilterStep{"majority_vote"}, FilterStep{"take_first"}};
  ASSERT_OK_AND_ASSIGN(CompiledFilters f, CompiledFilters::Compile(p));
  EXPECT_EQ(f.Apply({" a", "b ", "b", "a", "c"}), "A");  // tie: first seen
  EXPECT_EQ(f.Apply({"x", " y", "y"}), "Y");
  FilterPipeline bad;
  bad.steps = {FilterStep{"take_first"}, FilterStep{"lowercase"}};
  EXPECT_THAT(CompiledFilters::Compile(bad).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("comes after take_first")));
  FilterStep unknown;
  unknown.function = "map";
  unknown.origin = {"t.yaml", 9, 9};
  bad.steps = {unknown};
  EXPECT_THAT(CompiledFilters::Compile(bad).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("t.yaml:9:9: filter function 'map'")));
  MetricConfig em;
  em.metric = "exact_match";
  em.ignore_punctuation = true;
  ASSERT_OK_AND_ASSIGN(ExactMatcher m, ExactMatcher::Create(em));
  EXPECT_EQ(m.Score("4,2!", "42"), 1);
  EXPECT_EQ(m.Score("A", "a"), 0);
}

}  // namespace
}  // namespace evald::tasks::lm_eval
