// evalctl and evald as people use them: --help on every command, --version,
// one-line usage errors with the nearest flag, shell completion loaded into a
// real bash, and every output format (--json, -o json|yaml|table|jsonl) of
// the same stored runs, read offline. Real binaries, real store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/json.h"
#include "tests/daemon/process.h"
#include "tests/daemon/stored_runs.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::StartsWith;

ProcessResult Evalctl(std::vector<std::string> args,
                      std::vector<std::string> env = {}) {
  args.insert(args.begin(), BinDir() + "/evalctl");
  return RunProcess(args, env);
}

ProcessResult Evald(std::vector<std::string> args) {
  args.insert(args.begin(), BinDir() + "/evald");
  return RunProcess(args, {}, 30);
}

int Lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// The command names `evalctl --help` lists.
std::vector<std::string> ListedCommands() {
  ProcessResult help = Evalctl({"--help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  std::vector<std::string> names;
  bool in_commands = false;
  for (absl::string_view line : absl::StrSplit(help.out, '\n')) {
    if (line == "commands:") {
      in_commands = true;
    } else if (in_commands && absl::StartsWith(line, "  ") && line.size() > 2 &&
               line[2] != ' ') {
      names.emplace_back(line.substr(2, line.find(' ', 2) - 2));
    } else if (in_commands && line.empty()) {
      break;
    }
  }
  return names;
}

TEST(EvalctlCliTest, EveryCommandHasHelpWithUsageFlagsAndAnExample) {
  const std::vector<std::string> commands = ListedCommands();
  for (const char* expected :
       {"submit", "watch",      "status",  "list",  "results",  "samples",
        "cancel", "env",        "prompt",  "score", "datasets", "judge",
        "plan",   "report",     "compare", "gate",  "tag",      "delete",
        "fsck",   "completion", "help"}) {
    EXPECT_THAT(commands, ::testing::Contains(expected));
  }
  for (const std::string& command : commands) {
    for (const char* flag : {"--help", "-h"}) {
      ProcessResult r = Evalctl({command, flag});
      EXPECT_EQ(r.exit_code, 0) << command << " " << flag << ": " << r.err;
      EXPECT_THAT(r.out, StartsWith("usage: evalctl " + command)) << command;
      EXPECT_THAT(r.out, HasSubstr("\nflags:\n")) << command;
      EXPECT_THAT(r.out, HasSubstr("  -h, --help ")) << command;
      EXPECT_THAT(r.out, HasSubstr("\nglobal flags:\n  --addr ADDR "))
          << command;
      EXPECT_THAT(r.out, MatchesRegex("(.|\n)*\nexamples?:\n  .*evalctl " +
                                      command + "(.|\n)*"))
          << command;
      EXPECT_EQ(r.err, "") << command;
    }
  }
  // `help COMMAND` is the same text.
  EXPECT_EQ(Evalctl({"help", "prompt"}).out, Evalctl({"prompt", "--help"}).out);
  EXPECT_EQ(Evalctl({"help", "datasets", "fetch"}).out,
            Evalctl({"datasets", "fetch", "-h"}).out);
}

TEST(EvalctlCliTest, UsageErrorsAreOneLineNamingTheCommandWithExit2) {
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"prompt", "--dco", "1", "gsm8k"},
       "evalctl prompt: unknown flag '--dco'; did you mean '--doc'?"},
      {{"prompt", "gsm8k", "--doc=1", "--shost", "2"},
       "evalctl prompt: unknown flag '--shost'; did you mean '--shots'?"},
      {{"list", "--colour"},
       "evalctl list: unknown flag '--colour' (see evalctl list --help)"},
      {{"samples", "r1", "gsm8k", "--failde"},
       "evalctl samples: unknown flag '--failde'; did you mean '--failed'?"},
      {{"submt", "s.yaml"},
       "evalctl: unknown command 'submt'; did you mean 'submit'?"},
      {{"submit"}, "evalctl submit: SUITE is required"},
      {{"submit", "s.yaml", "--priority"},
       "evalctl submit: --priority needs a value"},
      {{"results", "r1", "r2"},
       "evalctl results: unexpected argument 'r2' (see evalctl results "
       "--help)"},
      {{"datasets"}, "evalctl datasets: a command is required: fetch, verify"},
      {{"list", "-o", "xml"}, "evalctl: -o xml: expected json, yaml or table"},
      {{"list", "--json", "-o", "yaml"},
       "evalctl: --json and -o yaml ask for different formats; give one"},
  };
  for (const Case& c : cases) {
    ProcessResult r =
        Evalctl(c.args, {"EVALD_ADDR=unix:/nonexistent/evald.sock"});
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(c.args, " ") << ": " << r.err;
    EXPECT_EQ(r.err, c.err + "\n") << absl::StrJoin(c.args, " ");
    EXPECT_EQ(r.out, "");
  }
  // No command at all: the help, on stderr.
  ProcessResult none = Evalctl({});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, StartsWith("usage: evalctl "));
}

TEST(VersionTest, EvaldAndEvalctlPrintTheSameVersionCommitAndBuildType) {
  ProcessResult ctl = Evalctl({"--version"});
  ProcessResult daemon = Evald({"--version"});  // no --data-dir needed
  EXPECT_EQ(ctl.exit_code, 0) << ctl.err;
  EXPECT_EQ(daemon.exit_code, 0) << daemon.err;
  EXPECT_THAT(
      ctl.out,
      MatchesRegex(
          "evald [0-9]+\\.[0-9]+\\.[0-9]+ \\(commit ([0-9a-f]+|unknown), "
          "[A-Za-z]+\\)\n"));
  EXPECT_EQ(ctl.out, daemon.out);
}

TEST(EvaldFlagsTest, EvaldParsesWithTheSameParser) {
  ProcessResult help = Evald({"--help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_THAT(help.out, StartsWith("usage: evald --data-dir DIR [flags]\n"));
  for (const char* flag :
       {"--listen ADDR", "--token-file FILE", "--threads N", "--max-resident N",
        "--device auto|cpu|cuda", "--memory-budget SIZE",
        "--device-memory SIZE", "--drain-timeout SECONDS", "--max-seqs N",
        "--http-listen [HOST:]PORT", "--http-token-file FILE",
        "--serve-model NAME=PATH", "--version"}) {
    EXPECT_THAT(help.out, HasSubstr(std::string("  ") + flag)) << flag;
  }
  EXPECT_THAT(help.out, Not(HasSubstr("--help-man")));  // for the build only
  TempDir tmp;
  const std::string dir = tmp.Join("data");
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{}, "evald: --data-dir is required"},
      {{"--data-dir", dir, "--max-seq", "4"},
       "evald: unknown flag '--max-seq'; did you mean '--max-seqs'?"},
      {{"--data-dir", dir, "--drain-timeout=soon"},
       "evald: --drain-timeout: expected a non-negative integer, got 'soon'"},
      {{"--data-dir", dir, "--device", "tpu"},
       "evald: --device: expected auto, cpu or cuda, got 'tpu'"},
      {{"--data-dir", dir, "--serve-model", "tiny"},
       "evald: --serve-model: expected NAME=PATH, got 'tiny'"},
      {{"--data-dir", dir, "--threads"}, "evald: --threads needs a value"},
  };
  for (const Case& c : cases) {
    ProcessResult r = Evald(c.args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(c.args, " ");
    EXPECT_EQ(r.err, c.err + "\n") << absl::StrJoin(c.args, " ");
  }
  EXPECT_FALSE(std::filesystem::exists(dir))
      << "a bad flag must stop evald before it starts";
}

// Runs `script` in a clean bash after loading evalctl's completion; returns
// stdout.
std::string InBash(const std::string& script) {
  ProcessResult r = RunProcess(
      {"/bin/bash", "--norc", "--noprofile", "-c",
       absl::StrCat("source <(\"", BinDir(),
                    "/evalctl\" completion bash) || exit 9\n", script)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  return r.out;
}

// What `evalctl WORDS<TAB>` offers: the completion function called as bash
// calls it, with COMP_WORDS ending in the word being completed.
std::vector<std::string> Complete(const std::vector<std::string>& words) {
  std::string array;
  for (const std::string& w : words) absl::StrAppend(&array, " '", w, "'");
  const std::string out = InBash(
      absl::StrCat("COMP_WORDS=(evalctl", array, "); COMP_CWORD=", words.size(),
                   "; _evalctl; printf '%s\\n' \"${COMPREPLY[@]}\""));
  std::vector<std::string> offered =
      absl::StrSplit(out, '\n', absl::SkipEmpty());
  return offered;
}

TEST(CompletionTest, BashCompletesCommandsFlagsAndValues) {
  using ::testing::Contains;
  using ::testing::ElementsAre;
  using ::testing::UnorderedElementsAre;
  EXPECT_THAT(Complete({"sub"}), ElementsAre("submit"));
  std::vector<std::string> d = Complete({"prompt", "--d"});
  EXPECT_THAT(d, Contains("--doc"));
  EXPECT_THAT(d, Contains("--data"));
  EXPECT_THAT(
      d, Contains("--data-dir"));  // a global flag, accepted after the command
  EXPECT_THAT(Complete({"--addr", "unix:/s", "list", "-o", ""}),
              UnorderedElementsAre("json", "yaml", "table"));
  EXPECT_THAT(Complete({"samples", "--output", "j"}),
              UnorderedElementsAre("json", "jsonl"));
  EXPECT_THAT(Complete({"datasets", ""}),
              UnorderedElementsAre("fetch", "verify"));
  EXPECT_THAT(Complete({"datasets", "fetch", "g"}), ElementsAre("gsm8k"));
  EXPECT_THAT(Complete({"prompt", "--doc", "a"}), ElementsAre("all"));
  EXPECT_THAT(Complete({"completion", ""}),
              UnorderedElementsAre("bash", "zsh", "fish"));
  // The script registers itself for the command.
  EXPECT_THAT(InBash("complete -p evalctl"), HasSubstr("-F _evalctl evalctl"));
}

TEST(CompletionTest, ZshAndFishScriptsAreGeneratedFromTheSameCommands) {
  ProcessResult zsh = Evalctl({"completion", "zsh"});
  ProcessResult fish = Evalctl({"completion", "fish"});
  ASSERT_EQ(zsh.exit_code, 0) << zsh.err;
  ASSERT_EQ(fish.exit_code, 0) << fish.err;
  EXPECT_THAT(zsh.out, StartsWith("#compdef evalctl\n"));
  EXPECT_THAT(zsh.out, HasSubstr("'submit:queue a suite.yaml run'"));
  EXPECT_THAT(zsh.out, HasSubstr("'--doc:the document"));
  EXPECT_THAT(fish.out, HasSubstr("-a 'submit' -d 'queue a suite.yaml run'"));
  EXPECT_THAT(fish.out,
              HasSubstr("-n \"__evalctl_at 'prompt'\" -l doc -x -a 'all'"));
  EXPECT_EQ(
      Evalctl({"completion", "tcsh"}).err,
      "evalctl completion: unknown shell 'tcsh': expected bash, zsh or fish\n");

  // In the shells themselves, where they are installed (they are not build
  // dependencies).
  TempDir tmp;
  std::vector<std::string> missing;
  if (std::filesystem::exists("/usr/bin/zsh")) {
    WriteTestFile(tmp.Join("_evalctl"), zsh.out);
    EXPECT_EQ(
        RunProcess({"/usr/bin/zsh", "-n", tmp.Join("_evalctl")}).exit_code, 0);
    // zsh's completion builtins replaced by ones that print what they are
    // offered; the script's own logic picks the command path and the list.
    ProcessResult r = RunProcess(
        {"/usr/bin/zsh", "-f", "-c",
         absl::StrCat(
             "_describe() { local n=$4; print -l -- ${(P)n}; }\n"
             "compadd() { [[ $1 == -a ]] && print -l -- ${(P)2}; }\n"
             "_files() { print -- FILES; }\n"
             "source ",
             tmp.Join("_evalctl"), " >/dev/null\n",
             "words=(evalctl prompt --d); CURRENT=3; _evalctl; print -- ---\n"
             "words=(evalctl --addr x list -o ''); CURRENT=6; _evalctl; print "
             "-- ---\n"
             "words=(evalctl datasets ''); CURRENT=3; _evalctl\n")});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> parts = absl::StrSplit(r.out, "---\n");
    ASSERT_EQ(parts.size(), 3u) << r.out;
    EXPECT_THAT(parts[0], HasSubstr("--doc:the document's id, or all\n"));
    EXPECT_THAT(parts[0], HasSubstr("--data:"));
    EXPECT_EQ(parts[1], "json\nyaml\ntable\n");
    EXPECT_THAT(parts[2], StartsWith("fetch:download datasets"));
  } else {
    missing.push_back("zsh");
  }
  if (std::filesystem::exists("/usr/bin/fish")) {
    WriteTestFile(tmp.Join("evalctl.fish"), fish.out);
    EXPECT_EQ(
        RunProcess({"/usr/bin/fish", "--no-execute", tmp.Join("evalctl.fish")})
            .exit_code,
        0);
    ProcessResult r =
        RunProcess({"/usr/bin/fish", "--no-config", "-c",
                    absl::StrCat("source ", tmp.Join("evalctl.fish"), "\n",
                                 "complete -C 'evalctl sub'; echo ---\n"
                                 "complete -C 'evalctl prompt --d'; echo ---\n"
                                 "complete -C 'evalctl datasets fetch g'\n")});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> parts = absl::StrSplit(r.out, "---\n");
    ASSERT_EQ(parts.size(), 3u) << r.out;
    EXPECT_EQ(parts[0], "submit\tqueue a suite.yaml run\n");
    EXPECT_THAT(parts[1], HasSubstr("--doc\tthe document's id, or all\n"));
    EXPECT_THAT(parts[1], HasSubstr("--data\t"));
    EXPECT_EQ(parts[2], "gsm8k\n");
  } else {
    missing.push_back("fish");
  }
  if (!missing.empty()) {
    GTEST_SKIP() << absl::StrJoin(missing, " and ")
                 << " not installed: not run in that shell";
  }
}

// ---- Output formats
// ------------------------------------------------------------

class OutputFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    run_ =
        WriteFinishedRun(data_dir_, StoredRun{.task = "gsm8k", .samples = 4});
    ASSERT_FALSE(run_.empty());
  }
  ProcessResult Offline(std::vector<std::string> args) {
    args.insert(args.begin(), {"--data-dir", data_dir_});
    return Evalctl(args);
  }
  base::Json Json(const ProcessResult& r) {
    auto json = base::ParseJson(r.out);
    EXPECT_TRUE(json.ok()) << json.status() << "\n" << r.out << r.err;
    return json.ok() ? *json : base::Json();
  }

  TempDir tmp_;
  const std::string data_dir_ = tmp_.Join("data");
  std::string run_;
};

// `yaml` (read with yaml-cpp) holds what `json` holds: the same keys in the
// same order, the same strings and numbers.
void ExpectSameData(const base::Json& json, const YAML::Node& yaml,
                    const std::string& where) {
  switch (json.type()) {
    case base::Json::Type::kObject: {
      ASSERT_TRUE(yaml.IsMap()) << where;
      ASSERT_EQ(yaml.size(), json.object().size()) << where;
      size_t i = 0;
      for (auto it = yaml.begin(); it != yaml.end(); ++it, ++i) {
        const auto& [key, value] = json.object()[i];
        EXPECT_EQ(it->first.Scalar(), key) << where;
        ExpectSameData(value, it->second, where + "." + key);
      }
      break;
    }
    case base::Json::Type::kArray:
      ASSERT_TRUE(yaml.IsSequence()) << where;
      ASSERT_EQ(yaml.size(), json.array().size()) << where;
      for (size_t i = 0; i < yaml.size(); ++i) {
        ExpectSameData(json.array()[i], yaml[i],
                       absl::StrCat(where, "[", i, "]"));
      }
      break;
    case base::Json::Type::kString:
      EXPECT_EQ(yaml.Scalar(), json.string_value()) << where;
      break;
    case base::Json::Type::kNumber:
      EXPECT_EQ(yaml.as<double>(), json.number_value()) << where;
      break;
    case base::Json::Type::kBool:
      EXPECT_EQ(yaml.as<bool>(), json.bool_value()) << where;
      break;
    case base::Json::Type::kNull:
      EXPECT_TRUE(yaml.IsNull()) << where;
      break;
  }
}

TEST_F(OutputFormatTest, JsonYamlAndTablePrintTheSameRunsResultsAndSamples) {
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"list"},
        {"list", "--label", "checkpoint=1200"},
        {"results", run_},
        {"samples", run_, "gsm8k"},
        {"samples", run_, "gsm8k", "--failed"},
        {"env", run_},
        {"fsck"},
        {"tag", "--list"}}) {
    const std::string what = absl::StrJoin(command, " ");
    std::vector<std::string> json_args = command;
    json_args.push_back("--json");
    ProcessResult json = Offline(json_args);
    ASSERT_EQ(json.exit_code, 0) << what << ": " << json.err;
    EXPECT_EQ(Lines(json.out), 1) << what;
    base::Json parsed = Json(json);

    std::vector<std::string> o_json = command;
    o_json.insert(o_json.end(), {"-o", "json"});
    EXPECT_EQ(Offline(o_json).out, json.out) << what << ": -o json is --json";

    std::vector<std::string> o_yaml = command;
    o_yaml.insert(o_yaml.end(), {"--output=yaml"});
    ProcessResult yaml = Offline(o_yaml);
    ASSERT_EQ(yaml.exit_code, 0) << what << ": " << yaml.err;
    YAML::Node node;
    try {
      node = YAML::Load(yaml.out);
    } catch (const YAML::Exception& e) {
      FAIL() << what << ": YAML does not parse: " << e.what() << "\n"
             << yaml.out;
    }
    ExpectSameData(parsed, node, what);

    std::vector<std::string> table = command;
    table.insert(table.end(), {"-o", "table"});
    ProcessResult text = Offline(table);
    EXPECT_EQ(text.exit_code, 0) << what;
    EXPECT_EQ(text.out, Offline(command).out)
        << what << ": -o table is the default";
    EXPECT_NE(text.out, json.out) << what;
  }
  // What each one holds.
  base::Json samples = Json(Offline({"--json", "samples", run_, "gsm8k"}));
  ASSERT_NE(samples.Find("samples"), nullptr);
  ASSERT_EQ(samples.Find("samples")->array().size(), 4u);
  EXPECT_EQ(samples.Find("samples")->array()[3].Find("doc_id")->string_value(),
            "3");
  ASSERT_NE(samples.Find("unreadable"), nullptr);
  EXPECT_EQ(Json(Offline({"samples", run_, "gsm8k", "--failed", "--json"}))
                .Find("samples")
                ->array()
                .size(),
            2u);
  EXPECT_THAT(Offline({"list"}).out, HasSubstr(run_));
  EXPECT_THAT(Offline({"results", run_}).out, HasSubstr("exact_match"));
}

TEST_F(OutputFormatTest, SamplesAsJsonLinesAndTheEmptyCases) {
  ProcessResult lines = Offline({"samples", run_, "gsm8k", "-o", "jsonl"});
  ASSERT_EQ(lines.exit_code, 0) << lines.err;
  std::vector<std::string> records =
      absl::StrSplit(lines.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(records.size(), 4u);
  for (size_t i = 0; i < records.size(); ++i) {
    auto record = base::ParseJson(records[i]);
    ASSERT_TRUE(record.ok()) << records[i];
    EXPECT_EQ(record->Find("doc_id")->string_value(), absl::StrCat(i));
  }
  EXPECT_EQ(Offline({"samples", run_, "gsm8k", "--json"}).out,
            absl::StrCat("{\"samples\":[", absl::StrJoin(records, ","),
                         "],\"unreadable\":[]}\n"));
  // A run with no samples of the asked-for kind.
  const std::string empty =
      WriteFinishedRun(tmp_.Join("empty"), StoredRun{.samples = 0});
  auto offline_empty = [&](std::vector<std::string> args) {
    args.insert(args.begin(),
                {"--data-dir", tmp_.Join("empty"), "samples", empty, "gsm8k"});
    return Evalctl(args);
  };
  EXPECT_EQ(offline_empty({"--json"}).out,
            "{\"samples\":[],\"unreadable\":[]}\n");
  EXPECT_EQ(offline_empty({}).out, "no samples\n");
  YAML::Node node = YAML::Load(offline_empty({"-o", "yaml"}).out);
  EXPECT_TRUE(node["samples"].IsSequence());
  EXPECT_EQ(node["samples"].size(), 0u);
  EXPECT_EQ(offline_empty({"-o", "jsonl"}).out, "");
}

TEST_F(OutputFormatTest, DatasetsReportAndJudgeHonourJson) {
  base::Json judge = Json(Evalctl({"judge", "template", "single", "--json"}));
  EXPECT_EQ(judge.Find("name")->string_value(), "single");
  EXPECT_EQ(judge.Find("template")->string_value(),
            Evalctl({"judge", "template", "single"}).out);
  EXPECT_EQ(Evalctl({"--json", "judge", "template", "single"}).out,
            Evalctl({"judge", "template", "single", "--json"}).out);

  ProcessResult verify = Evalctl(
      {"datasets", "verify", "gsm8k", "--json", "--data-dir", data_dir_});
  EXPECT_EQ(verify.exit_code, 1);  // not fetched, asked for by name
  base::Json datasets = Json(verify);
  ASSERT_EQ(datasets.Find("datasets")->array().size(), 1u);
  EXPECT_EQ(
      datasets.Find("datasets")->array()[0].Find("status")->string_value(),
      "not fetched");

  const std::string out = tmp_.Join("week.md");
  ProcessResult report =
      Offline({"report", "--since", "1d", "--out", out, "--json"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  base::Json written = Json(report);
  EXPECT_EQ(written.Find("out")->string_value(), out);
  EXPECT_EQ(written.Find("format")->string_value(), "markdown");
  EXPECT_EQ(written.Find("runs")->int_value(), 1);
  EXPECT_TRUE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace evald::testing
