// File: tests/jinja/task_environment_test.cc
// -----------------------------------------------------------------------------
// The environment lm-evaluation-harness renders task templates in
// (Environment::LmEvalTask: StrictUndefined, keep_trailing_newline, no
// trim/lstrip, regex_replace), checked against real jinja2 configured the
// same way, on the template shapes lm-eval's task files use.
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "gtest/gtest.h"
#include "jinja/template.h"
#include "tests/testing/temp_dir.h"

namespace evald::jinja {
namespace {

struct Case {
  std::string source;
  std::string doc;  // a JSON object
};

const std::vector<Case>& Cases() {
  static const auto* const kCases = new std::vector<Case>{
      {"{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nAnswer:",
       R"({"question": "  What is 2+2? \n", "choices": ["3", "4"]})"},
      {"{{choices[answer]}}", R"({"choices": ["x", "y", "z"], "answer": 2})"},
      {"{{['A','B','C','D'][answer]}}", R"({"answer": 1})"},
      {"{{ctx_a + ' ' + ctx_b.capitalize()}}",
       R"({"ctx_a": "A man is sitting", "ctx_b": "then he stands up."})"},
      {"{{answer.split('####')[-1].strip()}}",
       R"({"answer": "3 + 4 = 7\n#### 7"})"},
      {"{{text[:5]}}|{{text[2:]}}|{{text[::-1]}}|{{text[-3:]}}",
       R"({"text": "héllo wörld"})"},
      {"{{choices|join(', ')}}", R"({"choices": ["a", "b", "c"]})"},
      {"{% for c in choices %}{{loop.index}}. {{c}}\n{% endfor %}Answer:",
       R"({"choices": ["red", "green"]})"},
      {"  {% if flag %}\n  yes\n  {% endif %}\n  end\n", R"({"flag": true})"},
      {"Question: {{question}}\nAnswer:\n", R"({"question": "q"})"},
      {"{{question}}\n\n", R"({"question": "trailing"})"},
      {"{{ text|regex_replace('\\s+', ' ') }}", R"({"text": "a  b \t c"})"},
      {"{{ text|regex_replace('(\\w+)@(\\w+)', '\\\\2 at \\\\1') }}",
       R"({"text": "me@here you@there"})"},
      {"{{ 'a\\2b\\101\\0'|length }} {{ 'x\\101y' }}", R"({})"},
      {"{{ missing is defined }} {{ missing|default('d') }}", R"({})"},
      {"{{query}}", R"({"question": "no query"})"},
      {"{{doc.nothing}}", R"({"doc": {"a": 1}})"},
      {"{% if missing %}x{% endif %}", R"({})"},
      {"{{ choices[label|int] }}", R"({"choices": ["p", "q"], "label": "1"})"},
      {"{{ [sol1, sol2] }}", R"({"sol1": "one", "sol2": "two"})"},
      {"{{ answer_number|string }}", R"({"answer_number": 12})"},
      {"{{ 'yes' if label == 1 else 'no' }}", R"({"label": 1})"},
      {"{#- comment -#}\n{{ x }}\n{# c2 #}\ny", R"({"x": 1})"},
  };
  return *kCases;
}

// What one case renders to, or "ERROR" when rendering fails.
std::string RenderOne(const Case& c) {
  auto tmpl = Template::Parse(c.source, Environment::LmEvalTask());
  if (!tmpl.ok()) return "ERROR";
  auto doc = base::ParseJson(c.doc);
  if (!doc.ok()) return "BAD TEST DOC";
  auto out = tmpl->Render(*doc);
  return out.ok() ? *out : "ERROR";
}

TEST(TaskEnvironmentTest, MatchesJinja2WithLmEvalSettings) {
  std::string cases_json = "[";
  for (size_t i = 0; i < Cases().size(); ++i) {
    if (i > 0) cases_json += ", ";
    cases_json += "[";
    base::AppendJsonString(Cases()[i].source, /*ensure_ascii=*/true,
                           &cases_json);
    absl::StrAppend(&cases_json, ", ", Cases()[i].doc, "]");
  }
  cases_json += "]";
  ::evald::testing::TempDir dir;
  ::evald::testing::WriteTestFile(dir.Join("cases.json"), cases_json);
  // lm-eval's utils.apply_template environment, written from its settings.
  const std::string script =
      "import json, re, sys, jinja2\n"
      "def regex_replace(string, pattern, repl, count=0):\n"
      "    return re.sub(pattern, repl, string, count=count)\n"
      "env = jinja2.Environment(loader=jinja2.BaseLoader(),\n"
      "    undefined=jinja2.StrictUndefined, keep_trailing_newline=True)\n"
      "env.filters['regex_replace'] = regex_replace\n"
      "out = []\n"
      "for source, doc in json.load(open(sys.argv[1], encoding='utf-8')):\n"
      "    try:\n"
      "        out.append(env.from_string(source).render(**doc))\n"
      "    except Exception:\n"
      "        out.append('ERROR')\n"
      "sys.stdout.write(json.dumps(out))\n";
  ::evald::testing::WriteTestFile(dir.Join("render.py"), script);
  const std::string command =
      absl::StrCat("/usr/bin/python3 ", dir.Join("render.py"), " ",
                   dir.Join("cases.json"), " 2>/dev/null");
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string python;
  char buffer[4096];
  size_t n;
  while (pipe != nullptr &&
         (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    python.append(buffer, n);
  if (pipe == nullptr || ::pclose(pipe) != 0)
    GTEST_SKIP() << "no /usr/bin/python3 with jinja2 (python3-jinja2)";
  auto expected = base::ParseJson(python);
  ASSERT_TRUE(expected.ok()) << python;
  ASSERT_EQ(expected->array().size(), Cases().size());
  int errors = 0;
  for (size_t i = 0; i < Cases().size(); ++i) {
    const std::string want = expected->array()[i].string_value();
    if (want == "ERROR") ++errors;
    EXPECT_EQ(RenderOne(Cases()[i]), want)
        << "case " << i << ": " << Cases()[i].source;
  }
  EXPECT_EQ(errors, 3);  // the three undefined uses
}

TEST(TaskEnvironmentTest, UndefinedNameIsNamed) {
  auto tmpl = Template::Parse("Q: {{query}}", Environment::LmEvalTask());
  ASSERT_TRUE(tmpl.ok());
  auto out = tmpl->Render(*base::ParseJson(R"({"question": "x"})"));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("'query' is undefined"),
            std::string::npos)
      << out.status();
}

TEST(TaskEnvironmentTest, ChatEnvironmentUnchanged) {
  // The default environment keeps Hugging Face's rules: trim/lstrip blocks,
  // a trailing newline dropped, undefined prints empty, no regex_replace.
  auto tmpl = Template::Parse("  {% if 1 %}\nx{{ nope }}\n  {% endif %}\n");
  ASSERT_TRUE(tmpl.ok());
  EXPECT_EQ(*tmpl->Render(*base::ParseJson("{}")), "x\n");
  EXPECT_FALSE(Template::Parse("{{ 'a'|regex_replace('a', 'b') }}").ok());
}

}  // namespace
}  // namespace evald::jinja
