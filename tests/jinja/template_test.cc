// Jinja semantics of the renderer, one small template per feature. Expected
// outputs follow jinja2's documented behaviour.
#include "jinja/template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/json.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::jinja {
namespace {

using ::evald::testing::StatusIs;
using ::testing::HasSubstr;

std::string Render(const std::string& source,
                   const std::string& context_json = "{}") {
  auto tmpl = Template::Parse(source);
  if (!tmpl.ok()) return "PARSE ERROR: " + std::string(tmpl.status().message());
  auto context = base::ParseJson(context_json);
  if (!context.ok()) return "BAD CONTEXT";
  auto out = tmpl->Render(*context);
  if (!out.ok()) return "RENDER ERROR: " + std::string(out.status().message());
  return *out;
}

absl::Status RenderStatus(const std::string& source,
                          const std::string& context_json = "{}") {
  auto tmpl = Template::Parse(source);
  if (!tmpl.ok()) return tmpl.status();
  return tmpl->Render(*base::ParseJson(context_json)).status();
}

TEST(TemplateTest, TextAndExpressions) {
  EXPECT_EQ(Render("Hello {{ name }}!", R"({"name": "Ann"})"), "Hello Ann!");
  EXPECT_EQ(Render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ "
                   "-7 % 3 }} {{ 2 ** 10 }}"),
            "7 3 -4 1 2 1024");
  EXPECT_EQ(Render("{{ 7 / 2 }} {{ 4 / 2 }} {{ 1.5 + 1 }}"), "3.5 2.0 2.5");
  EXPECT_EQ(Render("{{ 'a' ~ 1 ~ none }} {{ 'x' * 3 }}"), "a1None xxx");
  EXPECT_EQ(Render("{{ true }} {{ none }} {{ [1, 'a', none] }} {{ {'k': 1} }}"),
            "True None [1, 'a', None] {'k': 1}");
  EXPECT_EQ(Render("{{ 'it\\'s' }} {{ \"tab\\there\" }} {{ '\\u00e9' }}"),
            "it's tab\there \xc3\xa9");
  EXPECT_EQ(
      Render("{{ 'yes' if x else 'no' }} {{ 'a' if not x }}|", R"({"x": 0})"),
      "no a|");
  EXPECT_EQ(Render("{{ 1 < 2 < 3 }} {{ 3 < 2 }} {{ 'b' in 'abc' }} {{ 2 not in "
                   "[1, 3] }}"),
            "True False True True");
}

TEST(TemplateTest, UndefinedIsEmptyAndFalsy) {
  EXPECT_EQ(Render("[{{ missing }}][{{ missing|trim }}][{{ missing ~ 'x' "
                   "}}][{{ missing|length }}]"),
            "[][][x][0]");
  // As jinja2's default Undefined: an attribute or item of an undefined value
  // is an error, not another undefined.
  EXPECT_THAT(RenderStatus("{{ missing.attr }}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'missing' is undefined")));
  EXPECT_THAT(RenderStatus("{{ d.a.b }}", R"({"d": {}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no attribute 'a'")));
  EXPECT_EQ(Render("{{ none.attr is defined }}"), "False");
  EXPECT_EQ(Render("{% if missing %}a{% else %}b{% endif %}"), "b");
  EXPECT_EQ(Render("{{ missing is defined }} {{ missing is undefined }} {{ "
                   "none is none }}"),
            "False True True");
  EXPECT_EQ(
      Render("{{ m.content }}|{{ m.nope }}|", R"({"m": {"content": "c"}})"),
      "c||");
  EXPECT_EQ(Render("{% for x in missing %}x{% else %}empty{% endfor %}"),
            "empty");
}

TEST(TemplateTest, WhitespaceControl) {
  // trim_blocks drops the newline after a block tag; lstrip_blocks the
  // indentation before it.
  EXPECT_EQ(Render("{% if true %}\n  a\n  {% endif %}\nb"), "  a\nb");
  EXPECT_EQ(Render("a  {{- ' b ' -}}  c"), "a b c");
  EXPECT_EQ(Render("x\n{%- if true -%}\n  y  \n{%- endif %}"), "xy");
  EXPECT_EQ(Render("a {# comment #} b"), "a  b");
  EXPECT_EQ(Render("{% raw %}{{ not evaluated }}{% endraw %}"),
            "{{ not evaluated }}");
  EXPECT_EQ(Render("{% raw %}\n  x\n{% endraw %}\nafter"),
            "\n  x\nafter");  // no trim after {% raw %}
  EXPECT_EQ(Render("a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n"),
            "a\nb\n");                  // newlines normalised
  EXPECT_EQ(Render("line\n"), "line");  // one trailing newline is dropped
  EXPECT_EQ(Render("{{ 'a' }}\n{{ 'b' }}"),
            "a\nb");  // no trimming after expressions
}

TEST(TemplateTest, ForLoops) {
  const std::string ctx = R"({"xs": ["a", "b", "c"]})";
  EXPECT_EQ(Render("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ "
                   "loop.revindex }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ x }};{% "
                   "endfor %}",
                   ctx),
            "103TrueFalse3a;212FalseFalse3b;321FalseTrue3c;");
  EXPECT_EQ(
      Render(
          "{% for x in xs if x != 'b' %}{{ x }}{{ loop.length }}{% endfor %}",
          ctx),
      "a2c2");
  EXPECT_EQ(Render("{% for x in xs %}{% if x == 'b' %}{% continue %}{% endif "
                   "%}{{ x }}{% endfor %}",
                   ctx),
            "ac");
  EXPECT_EQ(Render("{% for x in xs %}{% if x == 'b' %}{% break %}{% endif %}{{ "
                   "x }}{% endfor %}",
                   ctx),
            "a");
  EXPECT_EQ(Render("{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}",
                   R"({"d": {"z": 1, "a": 2}})"),
            "z=1,a=2,");
  EXPECT_EQ(Render("{% for x in xs[::-1] %}{{ x }}{% endfor %}", ctx), "cba");
  // Assignments inside a loop do not leak; namespaces carry state out.
  EXPECT_EQ(Render("{% set n = 0 %}{% set ns = namespace(n=0) %}{% for x in xs "
                   "%}{% set n = n + 1 %}"
                   "{% set ns.n = ns.n + 1 %}{% endfor %}{{ n }} {{ ns.n }}",
                   ctx),
            "0 3");
  EXPECT_EQ(Render("{% for i in range(3) %}{{ i }}{% endfor %}|{% for i in "
                   "range(1, 7, 2) %}{{ i }}{% endfor %}"),
            "012|135");
}

TEST(TemplateTest, StringMethods) {
  EXPECT_EQ(Render("[{{ '  a b \\n'.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ "
                   "'\\n\\na'.lstrip('\\n') }}]"
                   "[{{ 'a  '.rstrip() }}]"),
            "[a b][a][a][a]");
  EXPECT_EQ(Render("{{ 'a</think>b'.split('</think>')[-1] }} {{ 'a b  "
                   "c'.split() }} {{ 'a,b,c'.split(',', 1) }}"),
            "b ['a', 'b', 'c'] ['a', 'b,c']");
  EXPECT_EQ(Render("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') "
                   "}} {{ 'hello'.upper() }}"
                   " {{ 'HeLLo'.lower() }} {{ 'hello world'.title() }} {{ "
                   "'aXa'.replace('a', 'b') }}"),
            "True True HELLO hello Hello World bXb");
  EXPECT_EQ(Render("{{ 'h\xc3\xa9llo'[1] }} {{ 'h\xc3\xa9llo'|length }} {{ "
                   "'h\xc3\xa9llo'[:2] }}"),
            "\xc3\xa9 5 h\xc3\xa9");
}

// Python's str methods and jinja2's text filters, rendered by evald and by
// jinja2 on text where ASCII-only or hand-made Unicode tables would differ.
TEST(TemplateTest, StringMethodsAndTextFiltersMatchPythonJinja2) {
  const std::string source =
      "{% for t in texts %}[{{ t.upper() }}|{{ t.lower() }}|{{ t.title() }}|{{ "
      "t.capitalize() }}|{{ t|title }}|"
      "{{ t|capitalize }}|{{ t.strip() }}|{{ t.split()|join('/') }}|{{ "
      "t.split(none, 1)|join('/') }}|"
      "{{ t.splitlines()|join('/') }}|{{ t.isspace() }}{{ t.isdigit() }}{{ "
      "t.isalpha() }}{{ t.isalnum() }}"
      "{{ t.islower() }}{{ t.isupper() }}{{ t is lower }}{{ t is upper }}|{{ "
      "t|wordcount }}]\n{% endfor %}";
  const std::vector<std::string> texts = {
      "\u01c6emal \u00dftra\u00dfe \ufb01sh \u0149",
      " a b  c ",
      "x\u001c y\u2028z\r\nw\u000bv\u0085u",
      "\u00b2\u00b3 \u00bd 12 \u0663",
      "\u1fb3 \u039f\u0394\u039f\u03a3 \u0391\u03a3",
      "hello-world (foo) [bar]<x>",
      "\u00aa",
      "na\u00efve caf\u00e9 \u6771\u4eac x_y 3.5",
      "\u3000 \u00a0",
      "ABC\u01c5",
      "\u01c4\u01c5",
      ""};
  std::string texts_json = "[";
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i > 0) texts_json += ", ";
    base::AppendJsonString(texts[i], /*ensure_ascii=*/false, &texts_json);
  }
  texts_json += "]";
  ::evald::testing::TempDir dir;
  ::evald::testing::WriteTestFile(dir.Join("template.jinja"), source);
  ::evald::testing::WriteTestFile(dir.Join("texts.json"), texts_json);
  const std::string script =
      absl::StrCat("import json, sys, jinja2\n",
                   "source = open(sys.argv[1], encoding='utf-8').read()\n",
                   "texts = json.load(open(sys.argv[2], encoding='utf-8'))\n",
                   "sys.stdout.buffer.write(jinja2.Environment().from_string("
                   "source).render(texts=texts).encode())\n");
  ::evald::testing::WriteTestFile(dir.Join("render.py"), script);
  const std::string command = absl::StrCat(
      "/usr/bin/python3 ", dir.Join("render.py"), " ",
      dir.Join("template.jinja"), " ", dir.Join("texts.json"), " 2>/dev/null");
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string python;
  char buffer[4096];
  size_t n;
  while (pipe != nullptr &&
         (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    python.append(buffer, n);
  if (pipe == nullptr || ::pclose(pipe) != 0)
    GTEST_SKIP() << "no /usr/bin/python3 with jinja2 (python3-jinja2)";
  EXPECT_EQ(Render(source, absl::StrCat("{\"texts\": ", texts_json, "}")),
            python);
}

TEST(TemplateTest, Filters) {
  EXPECT_EQ(Render("[{{ '  x  '|trim }}][{{ [1, 2]|length }}][{{ 'ab'|upper "
                   "}}][{{ 'hello world'|title }}]"
                   "[{{ 'hELLO'|capitalize }}][{{ missing|default('d') }}][{{ "
                   "''|default('d', true) }}]"),
            "[x][2][AB][Hello World][Hello][d][d]");
  EXPECT_EQ(Render("{{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true)|first "
                   "}} {{ [1, 2, 3]|last }}"
                   " {{ ['a', 'b']|join('-') }} {{ [1, 1, 2]|unique|list }} {{ "
                   "'abc'|reverse }}"),
            "[1, 2, 3] 3 3 a-b [1, 2] cba");
  const std::string msgs =
      R"({"m": [{"role": "user", "c": 1}, {"role": "tool", "c": 2}, {"role": "user", "c": 3}]})";
  EXPECT_EQ(Render("{{ m|selectattr('role', 'equalto', "
                   "'user')|map(attribute='c')|list }}"
                   " {{ m|rejectattr('role', 'eq', 'user')|list|length }} {{ "
                   "m|map(attribute='role')|join(',') }}",
                   msgs),
            "[1, 3] 1 user,tool,user");
  EXPECT_EQ(Render("{{ '3'|int + 1 }} {{ 'x'|int }} {{ '2.5'|float }} {{ "
                   "5|string ~ '!' }} {{ 'a b c'|wordcount }}"),
            "4 0 2.5 5! 3");
  EXPECT_EQ(Render("{{ {'b': 1, 'a': 2}|dictsort }} {{ {'k': 'v'}|items|list "
                   "}} {{ (1,) }} {{ (1, 2) == [1, 2] }}"),
            "[('a', 2), ('b', 1)] [('k', 'v')] (1,) False");
  // Python's round(): ties to even on the exact binary value.
  EXPECT_EQ(Render("{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ "
                   "2.1|round(0, 'ceil') }}"),
            "2.0 4.0 2.67 3.0");
  EXPECT_EQ(Render("{{ 'straße ÉCOLE'|upper }} {{ 'ÀÉÎ Ωμέγα'|lower }} {{ "
                   "'élan vital'|title }}"),
            "STRASSE ÉCOLE àéî ωμέγα Élan Vital");
  EXPECT_EQ(Render("{{ 'a\\nb'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}"),
            "a\n  b|  a\n  b");
  EXPECT_EQ(
      Render("{{ 'x'|replace('x', 'y') }} {{ -3|abs }} {{ 2.567|round(1) }}"),
      "y 3 2.6");
}

TEST(TemplateTest, ToJsonMatchesPythonJsonDumps) {
  const std::string ctx =
      R"({"t": {"name": "f", "args": [1, 2.5, true, null, "\u00e9\"q"]}})";
  EXPECT_EQ(Render("{{ t|tojson }}", ctx),
            R"({"name": "f", "args": [1, 2.5, true, null, "é\"q"]})");
  EXPECT_EQ(Render("{{ t|tojson(indent=2) }}", ctx),
            "{\n  \"name\": \"f\",\n  \"args\": [\n    1,\n    2.5,\n    "
            "true,\n    null,\n    \"é\\\"q\"\n  ]\n}");
  EXPECT_EQ(Render("{{ [] | tojson(indent=4) }}"), "[]");
}

TEST(TemplateTest, Tests) {
  EXPECT_EQ(Render("{{ 'a' is string }} {{ 1 is number }} {{ {} is mapping }} "
                   "{{ [] is sequence }}"
                   " {{ 'a' is iterable }} {{ true is boolean }} {{ false is "
                   "false }} {{ 4 is even }}"
                   " {{ 3 is odd }} {{ 2 is in [1, 2] }} {{ 1 is eq 1 }} {{ 5 "
                   "is not none }} {{ 9 is divisibleby 3 }}"),
            "True True True True True True True True True True True True True");
}

TEST(TemplateTest, MacrosAndCallBlocks) {
  EXPECT_EQ(Render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct "
                   "}}{% endmacro %}"
                   "{{ greet('A') }} {{ greet('B', punct='?') }}"),
            "Hi A! Hi B?");
  EXPECT_EQ(Render("{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call "
                   "wrap() %}inner{% endcall %}"),
            "[inner]");
  EXPECT_EQ(Render("{% set x %}block {{ 1 }}{% endset %}{{ x }}|{% filter "
                   "upper %}up{% endfilter %}"),
            "block 1|UP");
  EXPECT_EQ(Render("{% set a, b = 1, 2 %}{{ a }}{{ b }}"), "12");
}

TEST(TemplateTest, ErrorsNameLineAndColumn) {
  EXPECT_THAT(RenderStatus("ok\n{% if %}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 2, column 7")));
  EXPECT_THAT(RenderStatus("{{ x | nosuchfilter }}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no filter named 'nosuchfilter'")));
  EXPECT_THAT(
      RenderStatus("{% for x in y %}"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("endfor")));
  EXPECT_THAT(
      RenderStatus("\n  {{ raise_exception('bad roles') }}"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("line 2, column 6: raise_exception: bad roles")));
  EXPECT_THAT(
      RenderStatus("{{ 'a' + 1 }}"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1")));
  EXPECT_THAT(RenderStatus("{{ 'unterminated }}"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      RenderStatus("{{ nope() }}"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("undefined")));
}

TEST(TemplateTest, HostileTemplatesAreBounded) {
  EXPECT_THAT(RenderStatus("{% for i in range(100000) %}{% for j in "
                           "range(100000) %}{% endfor %}{% endfor %}"),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(RenderStatus("{{ 'x' * 1000000000 }}"),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(RenderStatus("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(RenderStatus("{% set s = 'xxxxxxxxxxxxxxxx' %}{% for i in "
                           "range(30) %}{% set s = s ~ s %}{% endfor %}"),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(RenderStatus("{{ " + std::string(5000, '(') + "1" +
                           std::string(5000, ')') + " }}"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RenderStatus("{{ " + std::string(5000, '[') + " }}"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace evald::jinja
