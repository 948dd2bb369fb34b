// The command-line machinery evald and evalctl share (daemon/cli): the
// CLI11 parse with one-line errors, help and man text from the
// declarations, and the output formats (YAML read back with yaml-cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "base/json.h"
#include "daemon/cli/help.h"
#include "daemon/cli/output.h"
#include "daemon/cli/parse.h"
#include "tests/testing/status_matchers.h"

namespace evald::daemon::cli {
namespace {

using ::evald::testing::IsOkAndHolds;
using ::evald::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// A small evalctl-like tree: a global --json and --addr, a `prompt` command
// and a `generate` command.
struct Tree {
  Tree() : root("the test tool. It parses.", "tool") {
    ConfigureRoot(root);
    root.add_flag("--json", json, "print JSON");
    root.add_option("--addr", addr, "the address")->type_name("ADDR");
    AddEarlyFlag(root, "--version", &version, "print the version");
    prompt = root.add_subcommand("prompt", "print a prompt");
    prompt->add_option("TASK", task, "the task")->required();
    prompt->add_option("--doc", doc, "the document")
        ->type_name("ID|all")
        ->required();
    prompt->add_option("--data", data, "the dataset")->type_name("PATH");
    AddRepeated(*prompt, "--set", &sets, "an override")->type_name("K=V");
    prompt->add_flag("--wait", wait, "wait");
    SetExamples(*prompt, {"tool prompt gsm8k --doc 1"});
    generate = root.add_subcommand("generate", "generate text");
    generate->add_option("TEXT", text, "the prompt")->required();
  }
  absl::StatusOr<ParseResult> Run(const std::vector<std::string>& args) {
    return Parse(root, args);
  }

  CLI::App root;
  CLI::App* prompt = nullptr;
  CLI::App* generate = nullptr;
  bool json = false, wait = false, version = false;
  std::string addr, task, doc, data, text;
  std::vector<std::string> sets;
};

TEST(CliParseTest, FlagsTakeASpaceOrAnEqualsSignAndTheLastValueWins) {
  Tree t;
  ASSERT_OK_AND_ASSIGN(ParseResult r,
                       t.Run({"prompt", "gsm8k", "--doc", "1", "--data=/d",
                              "--doc=2", "--wait"}));
  EXPECT_EQ(r.command, t.prompt);
  EXPECT_FALSE(r.help);
  EXPECT_EQ(t.task, "gsm8k");
  EXPECT_EQ(t.doc, "2");
  EXPECT_EQ(t.data, "/d");
  EXPECT_TRUE(t.wait);
}

TEST(CliParseTest, ARepeatedFlagTakesOneValuePerUseAndNeverTheNextWord) {
  Tree t;
  ASSERT_OK(
      t.Run({"prompt", "--set", "a=1", "gsm8k", "--set=b=2", "--doc", "all"})
          .status());
  EXPECT_THAT(t.sets, ElementsAre("a=1", "b=2"));
  EXPECT_EQ(t.task, "gsm8k");
}

TEST(CliParseTest, GlobalFlagsWorkBeforeAndAfterTheCommandName) {
  Tree before, after;
  ASSERT_OK(
      before.Run({"--json", "--addr", "unix:/s", "prompt", "t", "--doc", "1"})
          .status());
  ASSERT_OK(after.Run({"prompt", "t", "--json", "--doc", "1", "--addr=unix:/s"})
                .status());
  for (Tree* t : {&before, &after}) {
    EXPECT_TRUE(t->json);
    EXPECT_EQ(t->addr, "unix:/s");
  }
}

TEST(CliParseTest, AnUnknownFlagIsOneLineNamingTheCommandAndTheNearestFlag) {
  Tree t;
  EXPECT_THAT(
      t.Run({"prompt", "--dco", "1", "gsm8k"}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "tool prompt: unknown flag '--dco'; did you mean '--doc'?"));
  Tree u;  // the value after '=' is not part of the name
  EXPECT_THAT(u.Run({"prompt", "gsm8k", "--dco=1"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown flag '--dco';")));
  Tree v;  // nothing near: point at the help
  EXPECT_THAT(
      v.Run({"prompt", "gsm8k", "--doc", "1", "--colour"}),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          "tool prompt: unknown flag '--colour' (see tool prompt --help)"));
  Tree w;  // a global flag is a candidate too
  EXPECT_THAT(w.Run({"prompt", "gsm8k", "--doc", "1", "--jsn"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("did you mean '--json'?")));
}

TEST(CliParseTest, AnUnknownCommandSuggestsTheNearest) {
  Tree t;
  EXPECT_THAT(
      t.Run({"promtp"}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "tool: unknown command 'promtp'; did you mean 'prompt'?"));
}

TEST(CliParseTest, MissingValuesRequiredFlagsAndExtraWordsAreOneLine) {
  Tree a, b, c, d;
  EXPECT_THAT(a.Run({"prompt", "gsm8k", "--doc"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "tool prompt: --doc needs a value"));
  EXPECT_THAT(b.Run({"prompt", "gsm8k"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "tool prompt: --doc is required"));
  EXPECT_THAT(c.Run({"prompt", "--doc", "1"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "tool prompt: TASK is required"));
  EXPECT_THAT(d.Run({"generate", "hi", "there"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "tool generate: unexpected argument 'there' (see tool "
                       "generate --help)"));
}

TEST(CliParseTest, AfterTheCommandAWordEqualToACommandNameIsAnArgument) {
  Tree t;
  ASSERT_OK_AND_ASSIGN(ParseResult r, t.Run({"generate", "prompt"}));
  EXPECT_EQ(r.command, t.generate);
  EXPECT_EQ(t.text, "prompt");
}

TEST(CliParseTest, HelpIsAResultForTheCommandItFollows) {
  Tree t;
  ASSERT_OK_AND_ASSIGN(ParseResult r, t.Run({"prompt", "--help"}));
  EXPECT_TRUE(r.help);  // even though TASK and --doc are missing
  EXPECT_EQ(r.command, t.prompt);
  Tree u;
  ASSERT_OK_AND_ASSIGN(r, u.Run({"-h"}));
  EXPECT_TRUE(r.help);
  EXPECT_EQ(r.command, &u.root);
}

TEST(CliParseTest, AnEarlyFlagEndsTheParseBeforeRequiredFlagsAreChecked) {
  Tree t;
  t.root.add_option("--needed", t.data)->required();
  ASSERT_OK_AND_ASSIGN(ParseResult r, t.Run({"--version"}));
  EXPECT_TRUE(r.early_exit);
  EXPECT_TRUE(t.version);
  Tree u;
  u.root.add_option("--needed", u.data)->required();
  EXPECT_THAT(u.Run({}), StatusIs(absl::StatusCode::kInvalidArgument,
                                  "tool: --needed is required"));
}

TEST(CliParseTest, NearestIsATypoOrAPrefixAndNothingFarther) {
  const std::vector<std::string> flags = {"--doc", "--data", "--limit",
                                          "--label"};
  EXPECT_EQ(Nearest("--dco", flags), "--doc");
  EXPECT_EQ(Nearest("--lim", flags), "--limit");
  EXPECT_EQ(Nearest("--lable", flags), "--label");
  EXPECT_EQ(Nearest("--colour", flags), "");
  EXPECT_EQ(Nearest("--", flags), "");
}

TEST(CliHelpTest, HelpHasUsageArgumentsFlagsGlobalFlagsAndTheExample) {
  Tree t;
  const std::string help = HelpText(*t.prompt);
  EXPECT_THAT(help,
              HasSubstr("usage: tool prompt --doc ID|all [flags] TASK\n"));
  EXPECT_THAT(help, HasSubstr("\narguments:\n  TASK "));
  EXPECT_THAT(help, HasSubstr("  --data PATH "));
  EXPECT_THAT(help, HasSubstr("  --set K=V "));
  EXPECT_THAT(help, HasSubstr("(repeatable)"));
  EXPECT_THAT(help, HasSubstr("  -h, --help "));
  EXPECT_THAT(help, HasSubstr("\nglobal flags:\n  --json "));
  EXPECT_THAT(help, HasSubstr("\nexample:\n  tool prompt gsm8k --doc 1\n"));
  const std::string root = HelpText(t.root, {{"exit codes", "0 ok."}});
  EXPECT_THAT(root, HasSubstr("\ncommands:\n  generate "));
  EXPECT_THAT(root, HasSubstr("\nexit codes:\n  0 ok.\n"));
}

TEST(CliHelpTest, ManPageIsRoffWithTheSameFlags) {
  Tree t;
  const std::string page = ManPage(*t.prompt, {.title = "tool-prompt",
                                               .section = 1,
                                               .source = "tool 1.0",
                                               .see_also = {"tool(1)"}});
  EXPECT_THAT(page, HasSubstr(".TH \"TOOL\\-PROMPT\" \"1\""));
  EXPECT_THAT(page, HasSubstr(".SH NAME\ntool\\-prompt \\- print a prompt\n"));
  EXPECT_THAT(page, HasSubstr(".B \\-\\-doc ID|all\n"));
  EXPECT_THAT(page, HasSubstr(".SH GLOBAL OPTIONS\n"));
  EXPECT_THAT(
      page,
      HasSubstr(".SH EXAMPLES\n.nf\ntool prompt gsm8k \\-\\-doc 1\n.fi\n"));
  EXPECT_THAT(page, HasSubstr("\\fBtool\\fR(1)"));
}

TEST(OutputTest, OJsonIsJsonAndContradictionsAreErrors) {
  EXPECT_THAT(ResolveOutput(false, ""), IsOkAndHolds(OutputFormat::kTable));
  EXPECT_THAT(ResolveOutput(true, ""), IsOkAndHolds(OutputFormat::kJson));
  EXPECT_THAT(ResolveOutput(false, "json"), IsOkAndHolds(OutputFormat::kJson));
  EXPECT_THAT(ResolveOutput(true, "json"), IsOkAndHolds(OutputFormat::kJson));
  EXPECT_THAT(ResolveOutput(false, "yaml"), IsOkAndHolds(OutputFormat::kYaml));
  EXPECT_THAT(ResolveOutput(false, "jsonl", /*jsonl=*/true),
              IsOkAndHolds(OutputFormat::kJsonLines));
  EXPECT_THAT(ResolveOutput(false, "jsonl"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "-o jsonl: expected json, yaml or table"));
  EXPECT_THAT(ResolveOutput(true, "yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--json and -o yaml")));
}

// `node` holds the same data as `json`; strings that would read as another
// type unquoted are quoted (yaml-cpp tags a quoted scalar "!").
void ExpectSame(const base::Json& json, const YAML::Node& node,
                const std::string& where) {
  switch (json.type()) {
    case base::Json::Type::kNull:
      EXPECT_TRUE(node.IsNull()) << where;
      break;
    case base::Json::Type::kBool:
      EXPECT_EQ(node.as<bool>(), json.bool_value()) << where;
      break;
    case base::Json::Type::kNumber:
      ASSERT_TRUE(node.IsScalar()) << where;
      EXPECT_NE(node.Tag(), "!") << where << ": a number must not be quoted";
      EXPECT_EQ(node.as<double>(), json.number_value()) << where;
      break;
    case base::Json::Type::kString: {
      ASSERT_TRUE(node.IsScalar()) << where;
      EXPECT_EQ(node.Scalar(), json.string_value()) << where;
      const std::string& s = json.string_value();
      bool plain_would_retype =
          s.empty() || s == "12" || s == "true" || s == "null" || s == "1.5";
      if (plain_would_retype) {
        EXPECT_EQ(node.Tag(), "!") << where << ": '" << s << "' unquoted";
      }
      break;
    }
    case base::Json::Type::kArray:
      ASSERT_TRUE(node.IsSequence()) << where;
      ASSERT_EQ(node.size(), json.array().size()) << where;
      for (size_t i = 0; i < json.array().size(); ++i) {
        ExpectSame(json.array()[i], node[i],
                   where + "[" + std::to_string(i) + "]");
      }
      break;
    case base::Json::Type::kObject: {
      ASSERT_TRUE(node.IsMap()) << where;
      ASSERT_EQ(node.size(), json.object().size()) << where;
      size_t i = 0;
      for (auto it = node.begin(); it != node.end(); ++it, ++i) {  // order kept
        EXPECT_EQ(it->first.Scalar(), json.object()[i].first) << where;
        ExpectSame(json.object()[i].second, it->second,
                   where + "." + json.object()[i].first);
      }
      break;
    }
  }
}

TEST(OutputTest, YamlReadsBackAsTheSameData) {
  ASSERT_OK_AND_ASSIGN(base::Json json, base::ParseJson(R"({
    "id": "r20261122T084512Z-0007", "count": 12, "mean": 0.1, "tiny": 1e-300, "big": 1e300,
    "negative": -3, "ok": true, "none": null, "empty": "", "digits": "12", "word_true": "true",
    "word_null": "null", "float_text": "1.5", "lines": "Q: 3 + 4?\nA: 7\n", "spaced": " lead",
    "colon": "a: b", "hash": "# not a comment", "unicode": "caf\u00e9 \u4e2d\u6587",
    "list": [1, "two", [], {}], "nested": {"metrics": {"acc,none": 0.25}}})"));
  const std::string yaml = JsonToYaml(json);
  YAML::Node node = YAML::Load(yaml);
  ExpectSame(json, node, "$");
  // Element by element, as `samples -o yaml` prints a list.
  std::string list =
      "samples:\n" + YamlSequenceItem(json) + YamlSequenceItem(json);
  YAML::Node listed = YAML::Load(list);
  ASSERT_TRUE(listed["samples"].IsSequence());
  ASSERT_EQ(listed["samples"].size(), 2u);
  ExpectSame(json, listed["samples"][1], "samples[1]");
}

TEST(OutputTest, JsonIsOneLine) {
  ASSERT_OK_AND_ASSIGN(base::Json json,
                       base::ParseJson(R"({"a": [1, 2], "b": "x\ny"})"));
  const std::string out = FormatDocument(OutputFormat::kJson, json);
  EXPECT_EQ(out, "{\"a\":[1,2],\"b\":\"x\\ny\"}\n");
  EXPECT_THAT(out.substr(0, out.size() - 1), Not(HasSubstr("\n")));
}

}  // namespace
}  // namespace evald::daemon::cli
