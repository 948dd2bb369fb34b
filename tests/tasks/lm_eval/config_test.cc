// File: tests/tasks/lm_eval/config_test.cc
// The lm-eval task YAML loader on task files and data the tests write into a
// temp dir: include merging, groups and tags, lm-eval's split choice, the
// data formats, and every refusal with the text of its error.
#include "tasks/lm_eval/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "base/json.h"
#include "base/sha256.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::tasks::lm_eval {
namespace {

using ::evald::testing::StatusIs;
using ::evald::testing::TempDir;
using ::evald::testing::WriteTestFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kData[] =
    "{\"question\": \"1+1?\", \"choices\": [\"1\", \"2\"], \"answer\": 1}\n"
    "{\"question\": \"2+2?\", \"choices\": [\"4\", \"5\"], \"answer\": 0}\n";

class LmEvalLoaderTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    WriteTestFile(dir_.Join(name), text);
    return dir_.Join(name);
  }
  // The error of loading `name` (which must fail).
  std::string ErrorOf(const std::string& name) {
    absl::StatusOr<TaskLibrary> lib = LoadTaskLibrary(dir_.Join(name));
    EXPECT_FALSE(lib.ok()) << name << " loaded";
    if (lib.ok()) return "";
    EXPECT_EQ(lib.status().code(), absl::StatusCode::kInvalidArgument)
        << lib.status();
    return std::string(lib.status().message());
  }
  TempDir dir_;
};

TEST_F(LmEvalLoaderTest, ReadsEveryKeyOfATask) {
  Write("data/test.jsonl", kData);
  const std::string path = Write("t.yaml", R"Y(task: arith
tag: [math, small]
dataset_path: data
test_split: test
output_type: generate_until
doc_to_text: "Q: {{question}}\nA:"
doc_to_target: "{{choices[answer]}}"
description: "Sums.\n\n"
target_delimiter: ""
fewshot_delimiter: "\n"
gen_prefix: "So"
num_fewshot: 3
fewshot_config:
  sampler: first_n
  doc_to_text: "{{question}}"
  fewshot_delimiter: "\n###\n"
generation_kwargs:
  until: "\n"
  max_gen_toks: 32
  do_sample: false
  temperature: 0
  top_k: 5
filter_list:
  - name: strict
    filter:
      - function: regex
        regex_pattern: "(\\d+)"
        group_select: -1
        fallback: "?"
      - function: take_first
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    regexes_to_ignore: [",", "\\$"]
repeats: 2
should_decontaminate: false
metadata:
  version: 2.0
  note: anything
)Y");
  ASSERT_OK_AND_ASSIGN(TaskLibrary lib, LoadTaskLibrary(path));
  ASSERT_EQ(lib.tasks.size(), 1u);
  const TaskConfig& t = lib.tasks[0];
  EXPECT_EQ(t.task, "arith");
  EXPECT_THAT(t.tags, ElementsAre("math", "small"));
  EXPECT_EQ(t.origin.ToString(), path + ":1:1");
  EXPECT_EQ(t.dataset_path, "data");
  EXPECT_EQ(t.test_split, "test");
  EXPECT_EQ(t.doc_to_text.kind, DocField::Kind::kString);
  EXPECT_EQ(t.doc_to_text.text, "Q: {{question}}\nA:");
  EXPECT_EQ(t.doc_to_text.origin.line, 6);
  EXPECT_EQ(t.description.text, "Sums.\n\n");
  EXPECT_EQ(t.target_delimiter, "");
  EXPECT_EQ(t.fewshot_delimiter, "\n");
  EXPECT_EQ(t.gen_prefix, "So");
  EXPECT_EQ(t.num_fewshot, 3);
  EXPECT_EQ(t.fewshot_config.sampler, "first_n");
  EXPECT_EQ(t.fewshot_config.doc_to_text.text, "{{question}}");
  EXPECT_EQ(t.fewshot_config.fewshot_delimiter, "\n###\n");
  EXPECT_FALSE(t.fewshot_config.target_delimiter.has_value());
  EXPECT_THAT(t.generation_kwargs.until, ElementsAre("\n"));
  EXPECT_TRUE(t.generation_kwargs.until_set);
  EXPECT_EQ(t.generation_kwargs.max_gen_toks, 32);
  EXPECT_EQ(t.generation_kwargs.top_k, 5);
  ASSERT_EQ(t.filter_list.size(), 1u);
  EXPECT_EQ(t.filter_list[0].name, "strict");
  ASSERT_EQ(t.filter_list[0].steps.size(), 2u);
  EXPECT_EQ(t.filter_list[0].steps[0].regex_pattern, "(\\d+)");
  EXPECT_EQ(t.filter_list[0].steps[0].group_select, -1);
  EXPECT_EQ(t.filter_list[0].steps[0].fallback, "?");
  EXPECT_EQ(t.filter_list[0].steps[1].function, "take_first");
  ASSERT_EQ(t.metric_list.size(), 1u);
  EXPECT_TRUE(t.metric_list[0].ignore_case);
  EXPECT_EQ(t.metric_list[0].higher_is_better, true);
  EXPECT_THAT(t.metric_list[0].regexes_to_ignore, ElementsAre(",", "\\$"));
  EXPECT_EQ(t.repeats, 2);
  EXPECT_EQ(t.version, "2.0");
  ASSERT_EQ(lib.files.size(), 1u);
  EXPECT_EQ(lib.files[0].sha256.size(), 64u);
  ASSERT_OK_AND_ASSIGN(std::string name, lib.DefaultName());
  EXPECT_EQ(name, "arith");

  // config_json is what lm-eval's own TaskConfig(**merged).to_dict() gives
  // for this file (lm_eval/config/task.py at the reference commit, run on
  // the same YAML): dataclass order, None dropped, `tag` dropped, PyYAML's
  // types, __post_init__'s defaults, metadata.config_source added.
  std::string expected =
      R"J({"task":"arith","dataset_path":"data","test_split":"test","doc_to_text":"Q: {{question}}\nA:",)J"
      R"J("doc_to_target":"{{choices[answer]}}","unsafe_code":false,"description":"Sums.\n\n",)J"
      R"J("target_delimiter":"","fewshot_delimiter":"\n","fewshot_config":{"sampler":"first_n",)J"
      R"J("split":null,"process_docs":null,"fewshot_indices":null,"samples":null,)J"
      R"J("doc_to_text":"{{question}}","doc_to_choice":null,"doc_to_target":"{{choices[answer]}}",)J"
      R"J("gen_prefix":"So","fewshot_delimiter":"\n###\n","target_delimiter":""},)J"
      R"J("num_fewshot":3,"metric_list":[{"metric":"exact_match","aggregation":"mean",)J"
      R"J("higher_is_better":true,"ignore_case":true,"regexes_to_ignore":[",)J"
      R"J(","\\$"]}],"output_type":"generate_until","generation_kwargs":{"until":"\n",)J"
      R"J("max_gen_toks":32,"do_sample":false,"temperature":0.0,"top_k":5},)J"
      R"J("repeats":2,"filter_list":[{"name":"strict","filter":[{"function":"regex",)J"
      R"J("regex_pattern":"(\\d+)","group_select":-1,"fallback":"?"},{"function":"take_first"}]}],)J"
      R"J("should_decontaminate":false,"gen_prefix":"So","metadata":{"version":2.0,)J"
      R"J("note":"anything","config_source":"@PATH@"}})J";
  expected.replace(expected.find("@PATH@"), 6, path);
  EXPECT_EQ(t.config_json.Dump(), expected);
}

TEST_F(LmEvalLoaderTest, DefaultsAsLmEval) {
  Write("data/test.jsonl", kData);
  const std::string path = Write("t.yaml",
                                 "task: t\ndataset_path: data\n"
                                 "test_split: test\ndoc_to_text: question\n"
                                 "doc_to_target: 1\n");
  ASSERT_OK_AND_ASSIGN(TaskLibrary lib, LoadTaskLibrary(path));
  const TaskConfig& t = lib.tasks[0];
  EXPECT_EQ(t.output_type, "generate_until");
  EXPECT_EQ(t.doc_to_target.kind, DocField::Kind::kInt);
  EXPECT_EQ(t.doc_to_target.number, 1);
  EXPECT_FALSE(t.num_fewshot.has_value());
  EXPECT_FALSE(t.generation_kwargs.until_set);
  EXPECT_THAT(t.generation_kwargs.until, ElementsAre("\n\n"));
  EXPECT_EQ(t.config_json.Find("generation_kwargs")->Dump(),
            R"({"temperature":0.0,"do_sample":false,"max_gen_toks":256,)"
            R"("until":["\n\n"]})");
  EXPECT_EQ(t.config_json.Find("doc_to_target")->Dump(), "1");
}

// config_json reads scalars as PyYAML (YAML 1.1) does. The expected text
// is PyYAML 6.0's own: yaml.safe_load, then json.dumps(default=str).
TEST_F(LmEvalLoaderTest, ScalarsAreTypedAsPyYaml) {
  const std::string path = Write("t.yaml", R"Y(task: t
dataset_path: d
test_split: test
metadata:
  a: yes
  b: No
  c: on
  d: 1e3
  e: 1.0e+3
  f: .5
  g: 0x1F
  h: 017
  i: 0b101
  j: 1_000
  k: ~
  l:
  m: "1"
  n: 'true'
  q: 3.
  r: +12
  t: 1:30
  u: 2001-12-14
  v: [1, "2", three]
  w: {x: null}
  y: 0
  z: -0.0
  aa: 1e+3
  ab: 08
  ac: 0o17
)Y");
  ASSERT_OK_AND_ASSIGN(TaskLibrary lib, LoadTaskLibrary(path));
  base::Json metadata = *lib.tasks[0].config_json.Find("metadata");
  metadata.Set("config_source", base::Json::String("x"));
  EXPECT_EQ(
      metadata.Dump(),
      R"({"a":true,"b":false,"c":true,"d":"1e3","e":1000.0,"f":0.5,"g":31,)"
      R"("h":15,"i":5,"j":1000,"k":null,"l":null,"m":"1","n":"true",)"
      R"("q":3.0,"r":12,"t":90,"u":"2001-12-14","v":[1,"2","three"],)"
      R"("w":{"x":null},"y":0,"z":-0.0,"aa":"1e+3","ab":"08","ac":"0o17",)"
      R"("config_source":"x"})");
}

TEST_F(LmEvalLoaderTest, IncludeMergesAndTheIncludingFileWins) {
  Write("data/test.jsonl", kData);
  Write("base/_base.yaml",
        "dataset_path: ../data\ntest_split: test\noutput_type: "
        "multiple_choice\ndoc_to_text: base text\ndoc_to_choice: choices\n"
        "doc_to_target: answer\nmetadata:\n  version: 1.0\n");
  Write("base/_mid.yaml",
        "include: _base.yaml\ndoc_to_text: mid text\ndescription: mid\n");
  const std::string path =
      Write("t.yaml", "include: base/_mid.yaml\ntask: inc\ndescription: top\n");
  ASSERT_OK_AND_ASSIGN(TaskLibrary lib, LoadTaskLibrary(path));
  const TaskConfig& t = lib.tasks[0];
  EXPECT_EQ(t.output_type, "multiple_choice");
  EXPECT_EQ(t.doc_to_text.text, "mid text");
  EXPECT_EQ(t.description.text, "top");
  EXPECT_EQ(t.version, "1.0");
  // dataset_path is read relative to the file that wrote it.
  EXPECT_EQ(t.dataset_path, "../data");
  ASSERT_OK_AND_ASSIGN(TaskDocs docs, LoadTaskDocs(t));
  EXPECT_EQ(docs.eval.size(), 2u);
  EXPECT_EQ(docs.files[0].path, dir_.Join("data/test.jsonl"));
  EXPECT_EQ(lib.files.size(), 3u);
  EXPECT_EQ(t.config_json.Find("include"), nullptr);
  // An include's error names the file it is in.
  Write("bad_base.yaml", "task: x\ninclude: base/_bad.yaml\n");
  Write("base/_bad.yaml", "doc_to_txt: q\n");
  EXPECT_EQ(ErrorOf("bad_base.yaml"),
            dir_.Join("base/_bad.yaml") +
                ":1:1: key 'doc_to_txt' is not an lm-eval task key (did you "
                "mean 'doc_to_text'?)");
}

TEST_F(LmEvalLoaderTest, IncludeCycleIsRefused) {
  Write("a.yaml", "include: b.yaml\ntask: a\n");
  Write("b.yaml", "include: a.yaml\ndataset_path: x\n");
  EXPECT_EQ(ErrorOf("a.yaml"),
            dir_.Join("b.yaml") +
                ":1:10: key 'include': include cycle: 'a.yaml' includes this "
                "file again");
  Write("self.yaml", "include: self.yaml\ntask: s\n");
  EXPECT_THAT(ErrorOf("self.yaml"), HasSubstr("include cycle"));
  Write("missing.yaml", "include: nowhere.yaml\ntask: s\n");
  EXPECT_THAT(ErrorOf("missing.yaml"),
              HasSubstr("missing.yaml:1:10: key 'include': "));
}

TEST_F(LmEvalLoaderTest, FolderWithGroupTagsAndInlineTasks) {
  Write("data/test.jsonl", kData);
  const std::string common =
      "dataset_path: data\ntest_split: test\noutput_type: multiple_choice\n"
      "doc_to_text: question\ndoc_to_choice: choices\ndoc_to_target: answer\n";
  Write("lib/_common.yaml", common + "metadata: {version: 1}\n");
  Write("lib/a.yaml", "include: _common.yaml\ntask: sub_a\ntag: easy\n");
  Write("lib/nested/b.yml",
        "include: ../_common.yaml\ntask: sub_b\ntag: [easy, hard]\n");
  Write("lib/_group.yaml", R"Y(group: all
task:
  - easy_group
  - task: inline_c
    include: _common.yaml
aggregate_metric_list:
  - metric: acc
    weight_by_size: false
metadata:
  version: 3
)Y");
  Write("lib/easy_group.yaml",
        "group: easy_group\ntask: easy\naggregate_metric_list:\n  metric: "
        "acc\n");
  Write("lib/.hidden/t.yml", "task: x\ndoc_to_txt: y\n");  // skipped
  ASSERT_OK_AND_ASSIGN(TaskLibrary lib, LoadTaskLibrary(dir_.Join("lib")));
  ASSERT_EQ(lib.tasks.size(), 3u);
  ASSERT_EQ(lib.groups.size(), 2u);
  const GroupConfig* all = lib.FindGroup("all");
  ASSERT_NE(all, nullptr);
  // An inline task is named after its group, as lm-eval names it.
  EXPECT_THAT(all->members, ElementsAre("easy_group", "all::inline_c"));
  ASSERT_EQ(all->aggregate_metric_list.size(), 1u);
  EXPECT_FALSE(all->aggregate_metric_list[0].weight_by_size);
  EXPECT_THAT(all->aggregate_metric_list[0].filter_list, ElementsAre("none"));
  EXPECT_EQ(all->version, "3");
  // As lm-eval's own GroupConfig(**cfg).to_dict() gives it for this file.
  EXPECT_EQ(all->config_json.Dump(),
            R"({"group":"all","group_alias":null,"task":["easy_group",)"
            R"({"task":"inline_c","include":"_common.yaml"}],)"
            R"("aggregate_metric_list":[{"metric":"acc","filter_list":null,)"
            R"("aggregation":"mean","weight_by_size":false}],)"
            R"("metadata":{"version":3}})");
  EXPECT_EQ(lib.FindGroup("easy_group")->config_json.Dump(),
            R"({"group":"easy_group","group_alias":null,"task":["easy"],)"
            R"("aggregate_metric_list":[{"metric":"acc","filter_list":null,)"
            R"("aggregation":"mean","weight_by_size":true}],"metadata":{}})");
  ASSERT_OK_AND_ASSIGN(std::vector<const TaskConfig*> easy,
                       lib.Resolve("easy"));
  ASSERT_EQ(easy.size(), 2u);
  EXPECT_EQ(easy[0]->task, "sub_a");
  EXPECT_EQ(easy[1]->task, "sub_b");
  ASSERT_OK_AND_ASSIGN(std::vector<const TaskConfig*> tasks,
                       lib.Resolve("all"));
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[2]->task, "all::inline_c");
  EXPECT_EQ(tasks[2]->config_json.Find("task")->string_value(),
            "all::inline_c");
  // lm-eval gives an inline task no config_source; a file's task has it.
  EXPECT_EQ(tasks[2]->config_json.Find("metadata")->Dump(), R"({"version":1})");
  EXPECT_EQ(
      tasks[0]->config_json.Find("metadata")->Dump(),
      R"({"version":1,"config_source":")" + dir_.Join("lib/a.yaml") + R"("})");
  ASSERT_OK_AND_ASSIGN(std::string name, lib.DefaultName());
  EXPECT_EQ(name, "all");
  EXPECT_THAT(lib.Resolve("al"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("no lm-eval task, group or tag 'al'")));
  // Every file read is listed once.
  EXPECT_EQ(lib.files.size(), 5u);

  // A lone group file reads its folder for the members, and names itself.
  ASSERT_OK_AND_ASSIGN(TaskLibrary lone,
                       LoadTaskLibrary(dir_.Join("lib/easy_group.yaml")));
  ASSERT_OK_AND_ASSIGN(name, lone.DefaultName());
  EXPECT_EQ(name, "easy_group");
  ASSERT_OK_AND_ASSIGN(tasks, lone.Resolve("easy_group"));
  EXPECT_EQ(tasks.size(), 2u);

  // An entry that names a task of another file is a reference; with more
  // keys it would override that task's config (lm-eval), which is refused.
  // A group's `tag` is accepted.
  Write("lib/_ref.yaml", "group: ref\ntag: groups\ntask:\n  - task: sub_a\n");
  ASSERT_OK_AND_ASSIGN(lib, LoadTaskLibrary(dir_.Join("lib")));
  EXPECT_THAT(lib.FindGroup("ref")->members, ElementsAre("sub_a"));
  Write("lib/_ref.yaml",
        "group: ref\ntask:\n  - task: sub_a\n    num_fewshot: 2\n");
  EXPECT_EQ(ErrorOf("lib"),
            dir_.Join("lib/_ref.yaml") +
                ":4:5: key 'num_fewshot': the entry for 'sub_a' (defined "
                "elsewhere) overrides its config, which evald does not "
                "support; set it in its own file");

  // A tag stands for its tasks in order of name, as lm-eval's sorted().
  Write("lib/_ref.yaml", "group: ref\ntask: [sub_a]\n");
  Write("lib/zz.yaml", "include: _common.yaml\ntask: sub_0\ntag: easy\n");
  ASSERT_OK_AND_ASSIGN(lib, LoadTaskLibrary(dir_.Join("lib")));
  ASSERT_OK_AND_ASSIGN(easy, lib.Resolve("easy"));
  ASSERT_EQ(easy.size(), 3u);
  EXPECT_EQ(easy[0]->task, "sub_0");
  EXPECT_EQ(easy[1]->task, "sub_a");
}

TEST_F(LmEvalLoaderTest, AmbiguousFolderAndUnknownMember) {
  Write("data/test.jsonl", kData);
  Write("two/a.yaml", "task: a\ndataset_path: ../data\ntest_split: test\n");
  Write("two/b.yaml", "task: b\ndataset_path: ../data\ntest_split: test\n");
  ASSERT_OK_AND_ASSIGN(TaskLibrary lib, LoadTaskLibrary(dir_.Join("two")));
  EXPECT_THAT(lib.DefaultName(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("name one (`name:` in the suite, --name on "
                                 "the command line): a, b")));
  Write("two/g.yaml", "group: g\ntask: [a, c]\n");
  EXPECT_EQ(ErrorOf("two"), dir_.Join("two/g.yaml") +
                                ":1:1: group 'g' lists 'c', which is no "
                                "task, group or tag here");
}

TEST_F(LmEvalLoaderTest, Refusals) {
  struct Case {
    std::string yaml;
    std::string error;  // after "<file>:"
  };
  const std::string ok = "task: t\ndataset_path: d\ntest_split: test\n";
  const std::vector<Case> cases = {
      {ok + "doc_to_txt: q\n",
       "4:1: key 'doc_to_txt' is not an lm-eval task key (did you mean "
       "'doc_to_text'?)"},
      {ok + "wibble: 1\n", "4:1: key 'wibble' is not an lm-eval task key"},
      {ok + "doc_to_text: !function utils.doc_to_text\n",
       "4:14: key 'doc_to_text' needs Python (!function), which evald does not "
       "run"},
      {ok + "metric_list:\n  - metric: !function m.f\n",
       "5:13: key 'metric' needs Python (!function), which evald does not "
       "run"},
      {ok + "process_docs: utils.process\n",
       "4:1: key 'process_docs' needs Python (!function), which evald does "
       "not run"},
      {ok + "process_results: utils.process\n",
       "4:1: key 'process_results' needs Python (!function), which evald does "
       "not run"},
      {ok + "custom_dataset: x\n",
       "4:1: key 'custom_dataset' needs Python (!function), which evald does "
       "not run"},
      {ok + "class: x\n",
       "4:1: key 'class' needs Python (!function), which evald does not run"},
      {ok + "doc_to_image: img\n",
       "4:1: key 'doc_to_image' (images and audio) is not supported by evald"},
      {ok + "fewshot_config:\n  process_docs: x\n",
       "5:3: key 'fewshot_config.process_docs' needs Python (!function), "
       "which evald does not run"},
      {ok + "doc_to_text: [a, b]\n",
       "4:14: key 'doc_to_text': expected a string or an integer, got a "
       "list"},
      {ok + "doc_to_choice: {a: {b: c}}\n",
       "4:20: key 'doc_to_choice[0]': expected a string, got a mapping"},
      {ok + "test_split: [a]\n", "4:1: key 'test_split' is given twice"},
      {"task: t\ndataset_path: d\ntest_split: [a]\n",
       "3:13: key 'test_split': expected a string, got a list"},
      {ok + "num_fewshot: five\n",
       "4:14: key 'num_fewshot': expected an integer, got 'five'"},
      {ok + "output_type: \"a\\nb\"\n",
       "4:14: key 'output_type': 'a\\nb' is not an output type "
       "(multiple_choice, generate_until, loglikelihood, "
       "loglikelihood_rolling)"},
      {ok + "num_fewshot: -1\n",
       "4:14: key 'num_fewshot': -1 is out of range [0, 100000]"},
      {ok + "output_type: multiple_choise\n",
       "4:14: key 'output_type': 'multiple_choise' is not an output type "
       "(multiple_choice, generate_until, loglikelihood, "
       "loglikelihood_rolling) (did you mean 'multiple_choice'?)"},
      {ok + "output_type: multiple_choice\n",
       "1:1: task 't': output_type multiple_choice needs `doc_to_choice`"},
      {ok + "generation_kwargs:\n  untill: x\n",
       "5:3: key 'generation_kwargs.untill' is not one of until, max_gen_toks, "
       "do_sample, temperature, top_p, top_k (did you mean 'until'?)"},
      {ok + "generation_kwargs:\n  do_sample: maybe\n",
       "5:14: key 'generation_kwargs.do_sample': expected true or false, got "
       "'maybe'"},
      {ok + "filter_list:\n  - name: x\n    filter:\n      - function: "
            "custom\n",
       "7:19: key 'filter_list[0].filter[0].function': 'custom' is not a "
       "filter evald runs (regex, take_first, lowercase, uppercase, "
       "remove_whitespace, majority_vote)"},
      {ok + "filter_list:\n  - name: x\n    filter:\n      - function: "
            "multi_choice_regex\n        ignore_case: true\n",
       "7:19: key 'filter_list[0].filter[0].function': 'multi_choice_regex' "
       "is not a filter evald runs (regex, take_first, lowercase, uppercase, "
       "remove_whitespace, majority_vote)"},
      {ok + "filter_list:\n  - name: x\n    filter:\n      - function: "
            "take_first\n        fallback: y\n",
       "8:19: key 'filter_list[0].filter[0].fallback' belongs to function "
       "'regex' only"},
      {ok + "metric_list:\n  - metric: bleu\n",
       "5:13: key 'metric_list[0].metric': 'bleu' is not a metric evald "
       "computes (acc, acc_norm, acc_mutual_info, exact_match, perplexity, "
       "word_perplexity, byte_perplexity, bits_per_byte)"},
      {ok + "metric_list:\n  - metric: acc\n    ignore_case: true\n",
       "6:18: key 'metric_list[0].ignore_case' belongs to metric "
       "'exact_match' only"},
      {ok + "fewshot_config:\n  sampler: random\n",
       "5:12: key 'fewshot_config.sampler': 'random' is not a sampler evald "
       "runs (default, first_n)"},
      {ok + "use_prompt: p\n",
       "4:1: key 'use_prompt' needs promptsource (Python), which evald does "
       "not run"},
      {ok + "group: g\n",
       "2:1: key 'dataset_path' in a group file sets it for every task of the "
       "group, which evald does not support; set it in the task files"},
      {"task: t\ndataset_path: d\n",
       "1:1: task 't' names neither `test_split` nor `validation_split`"},
      {"task: t\ntest_split: test\n",
       "1:1: task 't' names no data (`dataset_path:` or `dataset_kwargs: "
       "{data_files: ...}`)"},
      {"task: [\n", "2:1: invalid YAML: end of sequence flow not found"},
      {"- a\n- b\n",
       " expected a mapping of lm-eval task keys (task: ..., dataset_path: "
       "...)"},
      {"task: t\ndescription: \"\xff\"\n", "2: not valid UTF-8 (byte 22)"},
      {"group: g\ntask: [a]\ndataset_path: x\n",
       "3:1: key 'dataset_path' in a group file sets it for every task of the "
       "group, which evald does not support; set it in the task files"},
      {"group: g\ntask: [a]\ngroup_alias: G\naggregate_metric_lst: []\n",
       "4:1: key 'aggregate_metric_lst' is not an lm-eval group key (a group "
       "file has group, group_alias, task, aggregate_metric_list, metadata) "
       "(did you mean 'aggregate_metric_list'?)"},

      {"group: g\ntask: [a]\naggregate_metric_list:\n  - metric: acc\n    "
       "aggregation: median\n",
       "5:18: key 'aggregate_metric_list[0].aggregation': 'median' is not "
       "'mean', the only group aggregation lm-eval defines"},
      {"group: g\n",
       "1:8: key 'group': group 'g' lists no tasks (`task: "
       "[...]`)"},
      {"dataset_path: x\n",
       " defines no `task:` and no `group:` (an include base is read through "
       "another file's `include:`)"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    // Each in a folder of its own: a lone group file reads its folder.
    const std::string name = "case" + std::to_string(i) + "/t.yaml";
    Write(name, cases[i].yaml);
    const std::string error = ErrorOf(name);
    std::string expected = dir_.Join(name) + ":" + cases[i].error;
    EXPECT_EQ(error, expected) << "case " << i << ":\n" << cases[i].yaml;
  }
}

TEST_F(LmEvalLoaderTest, FileTooLargeAndFromText) {
  Write("big.yaml",
        "task: t\ndescription: \"" + std::string(1 << 20, 'x') + "\"\n");
  EXPECT_THAT(ErrorOf("big.yaml"),
              HasSubstr("a task YAML file is at most 1048576 bytes (1 MiB)"));
  ASSERT_OK_AND_ASSIGN(
      TaskLibrary lib,
      LoadTaskLibraryFromText("task: x\ndataset_path: d\ntest_split: test\n",
                              dir_.Join("text.yaml")));
  EXPECT_EQ(lib.tasks[0].task, "x");
  EXPECT_EQ(lib.files[0].sha256,
            base::Sha256Hex("task: x\ndataset_path: d\ntest_split: test\n"));
}

// ---------------------------------------------------------------------------
// LoadTaskDocs

class LmEvalDocsTest : public LmEvalLoaderTest {
 protected:
  absl::StatusOr<TaskDocs> Docs(const std::string& yaml) {
    const std::string path = Write("task.yaml", yaml);
    absl::StatusOr<TaskLibrary> lib = LoadTaskLibrary(path);
    if (!lib.ok()) return lib.status();
    return LoadTaskDocs(lib->tasks[0]);
  }
};

TEST_F(LmEvalDocsTest, FolderSplitsAndLmEvalFewshotOrder) {
  Write("d/test.jsonl", kData);
  Write("d/validation.jsonl", "{\"question\": \"v\"}\n");
  Write("d/train.jsonl", "{\"question\": \"t1\"}\n{\"question\": \"t2\"}\n");
  const std::string head = "task: t\ndataset_path: d\n";
  ASSERT_OK_AND_ASSIGN(TaskDocs docs,
                       Docs(head + "test_split: test\nvalidation_split: "
                                   "validation\ntraining_split: train\n"));
  ASSERT_EQ(docs.eval.size(), 2u);
  EXPECT_EQ(docs.eval[1].value.Find("question")->string_value(), "2+2?");
  EXPECT_EQ(docs.eval[1].where, dir_.Join("d/test.jsonl") + ":2");
  ASSERT_EQ(docs.fewshot.size(), 2u);  // training_split first
  EXPECT_FALSE(docs.fewshot_is_eval);
  ASSERT_EQ(docs.files.size(), 2u);
  EXPECT_EQ(docs.files[0].path, dir_.Join("d/test.jsonl"));
  EXPECT_EQ(docs.files[0].sha256, base::Sha256Hex(kData));

  ASSERT_OK_AND_ASSIGN(docs, Docs(head + "test_split: test\nvalidation_split: "
                                         "validation\n"));
  ASSERT_EQ(docs.fewshot.size(), 1u);  // then validation_split
  ASSERT_OK_AND_ASSIGN(docs, Docs(head + "test_split: test\n"));
  EXPECT_EQ(docs.fewshot.size(), 2u);  // then test_split itself
  EXPECT_TRUE(docs.fewshot_is_eval);
  // fewshot_split beats training_split; fewshot_config.split beats both.
  ASSERT_OK_AND_ASSIGN(docs, Docs(head + "test_split: test\ntraining_split: "
                                         "train\nfewshot_split: validation\n"));
  EXPECT_EQ(docs.fewshot.size(), 1u);
  ASSERT_OK_AND_ASSIGN(
      docs, Docs(head + "test_split: test\nfewshot_split: validation\n"
                        "fewshot_config:\n  split: train\n"));
  EXPECT_EQ(docs.fewshot.size(), 2u);
  // validation_split is the eval split without test_split.
  ASSERT_OK_AND_ASSIGN(docs, Docs(head + "validation_split: validation\n"));
  EXPECT_EQ(docs.eval.size(), 1u);
  EXPECT_TRUE(docs.fewshot_is_eval);
  // Inline samples when no split is named.
  ASSERT_OK_AND_ASSIGN(
      docs, Docs(head + "test_split: test\ntraining_split: train\n"
                        "fewshot_config:\n  samples:\n    - {question: s1}\n"));
  ASSERT_EQ(docs.fewshot.size(), 1u);
  EXPECT_EQ(docs.fewshot[0].value.Dump(), R"({"question":"s1"})");
}

TEST_F(LmEvalDocsTest, DatasetNameDataFilesJsonAndCsv) {
  Write("d/sub/test.json", "{\"test\": [{\"q\": \"a\"}, {\"q\": \"b\"}]}");
  ASSERT_OK_AND_ASSIGN(
      TaskDocs docs,
      Docs("task: t\ndataset_path: d\ndataset_name: sub\ntest_split: test\n"));
  ASSERT_EQ(docs.eval.size(), 2u);
  EXPECT_EQ(docs.eval[1].where, dir_.Join("d/sub/test.json") + ": document 1");

  Write("files/a.csv",
        "id,score,flag,text,gap,mixed\n"
        "1,0.5,True,hello,3,x\n"
        "2,2,false,\"with, comma\",,1\n");
  ASSERT_OK_AND_ASSIGN(
      docs, Docs("task: t\ndataset_path: csv\ntest_split: eval\n"
                 "dataset_kwargs:\n  data_files:\n    eval: [files/a.csv]\n"
                 "  trust_remote_code: true\n"));
  ASSERT_EQ(docs.eval.size(), 2u);
  // pandas' types: int, float, bool, str; an int column with a gap is float.
  EXPECT_EQ(docs.eval[0].value.Dump(),
            R"({"id":1,"score":0.5,"flag":true,"text":"hello","gap":3.0,)"
            R"("mixed":"x"})");
  EXPECT_EQ(docs.eval[1].value.Dump(),
            R"({"id":2,"score":2.0,"flag":false,"text":"with, comma",)"
            R"("gap":null,"mixed":"1"})");
  EXPECT_EQ(docs.eval[1].where, dir_.Join("files/a.csv") + ":3");
  EXPECT_EQ(docs.files.size(), 1u);
  // pandas' names for a repeated and an empty column; a BOM is dropped.
  // Expected as pandas.read_csv gives them (integers past int64 stay str;
  // spaces around a number are allowed).
  Write("files/c.csv",
        "\xEF\xBB\xBFq,q,,big,sp\nx,y,z,99999999999999999999, 4\n"
        "x,y,z,1,5 \n");
  ASSERT_OK_AND_ASSIGN(
      docs, Docs("task: t\ndataset_path: csv\ntest_split: eval\n"
                 "dataset_kwargs:\n  data_files:\n    eval: files/c.csv\n"));
  EXPECT_EQ(docs.eval[0].value.Dump(),
            R"({"q":"x","q.1":"y","Unnamed: 2":"z",)"
            R"("big":"99999999999999999999","sp":4})");
  EXPECT_EQ(docs.eval[1].value.Dump(),
            R"({"q":"x","q.1":"y","Unnamed: 2":"z","big":"1","sp":5})");
  // The builder name decides the format, as in `datasets`: a .csv file
  // under `json` is read as JSON (and refused).
  Write("files/b.jsonl", "{\"id\": 3}\n");
  ASSERT_OK_AND_ASSIGN(
      docs, Docs("task: t\ndataset_path: json\ntest_split: eval\n"
                 "training_split: train\n"
                 "dataset_kwargs:\n  data_files:\n    eval: files/b.jsonl\n"
                 "    train: files/b.jsonl\n"));
  EXPECT_EQ(docs.eval.size(), 1u);
  EXPECT_EQ(docs.fewshot.size(), 1u);
  EXPECT_FALSE(docs.fewshot_is_eval);
  EXPECT_EQ(docs.files.size(), 1u);  // listed once
  EXPECT_THAT(
      Docs("task: t\ndataset_path: json\ntest_split: eval\n"
           "dataset_kwargs:\n  data_files:\n    eval: files/a.csv\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(dir_.Join("files/a.csv") + ":1: malformed JSON")));
}

TEST_F(LmEvalDocsTest, Refusals) {
  Write("d/test.jsonl", "{\"q\": 1}\nnot json\n");
  Write("d/bad.jsonl", "{\"q\": \"\xff\"}\n");
  Write("one.jsonl", kData);
  EXPECT_THAT(
      Docs("task: t\ndataset_path: d\ntest_split: test\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(dir_.Join("d/test.jsonl") + ":2: malformed JSON")));
  EXPECT_THAT(Docs("task: t\ndataset_path: d\ntest_split: bad\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(dir_.Join("d/bad.jsonl") +
                                 ":1: field 'q' is not valid UTF-8")));
  EXPECT_THAT(
      Docs("task: t\ndataset_path: d\ntest_split: nope\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(dir_.Join("task.yaml") +
                         ":1:1: task 't': split 'nope': no " +
                         dir_.Join("d/nope") + ".jsonl, .json or .csv")));
  EXPECT_THAT(
      Docs("task: t\ndataset_path: cais/mmlu\ndataset_name: x\ntest_split: "
           "test\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(":1:1: task 't': dataset_path 'cais/mmlu' is no "
                         "local file or folder (looked for " +
                         dir_.Join("cais/mmlu") +
                         "); evald reads local files only: download the data "
                         "and set dataset_path to its folder")));
  EXPECT_THAT(Docs("task: t\ndataset_path: one.jsonl\ntest_split: test\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is one file, which is the split 'train'")));
  ASSERT_OK_AND_ASSIGN(
      TaskDocs docs,
      Docs("task: t\ndataset_path: one.jsonl\ntest_split: train\n"));
  EXPECT_EQ(docs.eval.size(), 2u);
  EXPECT_THAT(
      Docs("task: t\ndataset_path: json\ntest_split: test\ndataset_kwargs:\n"
           "  data_files: {train: one.jsonl}\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("split 'test' is not in dataset_kwargs.data_files "
                         "(it has: train)")));
  EXPECT_THAT(
      Docs("task: t\ndataset_path: json\ntest_split: test\ndataset_kwargs:\n"
           "  data_files: {test: gone.jsonl}\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("data file 'gone.jsonl' of split 'test'")));
  // A pattern names the matching files of its folder, in name order.
  Write("parts/test-00001.jsonl", "{\"q\": 2}\n");
  Write("parts/test-00000.jsonl", "{\"q\": 1}\n");
  Write("parts/train-00000.jsonl", "{\"q\": 0}\n");
  ASSERT_OK_AND_ASSIGN(
      TaskDocs parts,
      Docs("task: t\ndataset_path: json\ntest_split: test\ndataset_kwargs:\n"
           "  data_files: {test: parts/test-*.jsonl}\n"));
  ASSERT_EQ(parts.eval.size(), 2u);
  EXPECT_EQ(parts.eval[0].value.Dump(), R"({"q":1})");
  EXPECT_EQ(parts.files.size(), 2u);
  EXPECT_THAT(
      Docs("task: t\ndataset_path: json\ntest_split: test\ndataset_kwargs:\n"
           "  data_files: {test: parts/dev-*.jsonl}\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("data files 'parts/dev-*.jsonl' of split 'test': no "
                         "file matches")));
  Write("bad.csv", "a,text\n1,ok\n2,\"x\xff\"\n");
  EXPECT_THAT(
      Docs("task: t\ndataset_path: csv\ntest_split: test\ndataset_kwargs:\n"
           "  data_files: {test: bad.csv}\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(dir_.Join("bad.csv") + ":3: field 'text'")));
  Write("ragged.csv", "a,b\n1\n");
  EXPECT_THAT(
      Docs("task: t\ndataset_path: csv\ntest_split: test\ndataset_kwargs:\n"
           "  data_files: {test: ragged.csv}\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(dir_.Join("ragged.csv") +
                         ":2: 1 columns; the header has 2")));
  // A missing few-shot split is an error too: lm-eval reads it when the
  // task is built.
  Write("e/test.jsonl", kData);
  EXPECT_THAT(Docs("task: t\ndataset_path: e\ntest_split: test\n"
                   "fewshot_split: dev\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("task 't': split 'dev': no " +
                                 dir_.Join("e/dev") + ".jsonl")));
}

}  // namespace
}  // namespace evald::tasks::lm_eval
