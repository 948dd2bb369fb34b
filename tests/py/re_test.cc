// File: tests/py/re_test.cc
// py/re.h against CPython's `re`: fixed cases first, then findall/finditer/
// sub/split/compile errors over patterns that exercise the Python-to-PCRE2
// rewrites, then \s \w \d and classes over every code point, all asked of
// /usr/bin/python3 when it is installed.
#include "py/re.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pcre2.h>
#include <unicode/uchar.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/json.h"
#include "base/utf8.h"
#include "tests/py/python.h"
#include "tests/testing/status_matchers.h"

namespace evald::py {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Spans = std::vector<std::pair<size_t, size_t>>;

std::string PyLiteral(absl::string_view s) {
  return testing::PythonStrLiteral(s);
}

TEST(PyReTest, SubAllowsEmptyMatchAfterNonEmptyOneAsPython37) {
  Regex re = Regex::CompileOrDie("x*");
  EXPECT_EQ(re.Sub("abxd", "-"), "-a-b--d-");
}

TEST(PyReTest, SplitKeepsEmptyPieces) {
  Regex re = Regex::CompileOrDie(R"(\s?\*\*\*\s?)");
  EXPECT_THAT(re.Split("a *** b***\n***"), ElementsAre("a", "b", "", ""));
}

TEST(PyReTest, UnicodeWordsAndBoundaries) {
  EXPECT_FALSE(Regex::CompileOrDie(R"(\bcat\b)", {.ignore_case = true})
                   .Search("concatenate"));
  EXPECT_TRUE(Regex::CompileOrDie(R"(\bcat\b)", {.ignore_case = true})
                  .Search("the CAT sat"));
  EXPECT_TRUE(Regex::CompileOrDie(R"(\bcafé\b)", {.ignore_case = true})
                  .Search("un café noir"));
}

TEST(PyReTest, CaselessMatchingFollowsUnicodeCaseFolding) {
  const Regex i = Regex::CompileOrDie("i", {.ignore_case = true});
  EXPECT_TRUE(i.Search("I"));
  EXPECT_TRUE(Regex::CompileOrDie("k", {.ignore_case = true})
                  .Search("\u212a"));  // KELVIN SIGN
  EXPECT_TRUE(Regex::CompileOrDie("ß", {.ignore_case = true}).Search("ẞ"));
  // The documented difference: Python's re.I also pairs these with 'i'.
  EXPECT_FALSE(i.Search("İ"));
  EXPECT_FALSE(i.Search("ı"));
}

TEST(PyReTest, MultilineAnchorsAndClassesCrossNewlinesAsPython) {
  // [^\*] matches the newline after a lone "*", joining two lines.
  Regex re = Regex::CompileOrDie(R"(^\s*\*[^\*].*$)", {.multiline = true});
  EXPECT_EQ(re.FindIter("* a\n  * b\n** c\n*\n* d").size(), 3u);
  // Multiline '^' also matches after a final newline, as in Python.
  EXPECT_EQ(
      Regex::CompileOrDie("^", {.multiline = true}).FindIter("a\n").size(), 2u);
}

TEST(PyReTest, CompileErrorNamesPatternAndPosition) {
  absl::StatusOr<Regex> re = Regex::Compile("(unclosed");
  ASSERT_FALSE(re.ok());
  EXPECT_THAT(std::string(re.status().message()), HasSubstr("(unclosed"));
  EXPECT_THAT(Regex::Compile(R"(ab\p{L})"),
              testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("bad escape \\p at position 2")));
  // ASCII-only classes are not implemented: refused rather than ignored.
  EXPECT_THAT(Regex::Compile(R"((?a)\w)"),
              testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("not supported")));
  // A PCRE2 error is placed in the pattern as written, not as rewritten.
  EXPECT_THAT(Regex::Compile(R"(\s\s(?<=a+))"),
              testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("at position")));
}

TEST(PyReTest, MatchGroupsNamesAndTemplates) {
  Regex re = Regex::CompileOrDie(R"((?P<word>\w+)(?:-(?P<num>\d+))?)");
  EXPECT_EQ(re.group_count(), 2);
  EXPECT_EQ(re.GroupIndex("num"), 2);
  EXPECT_EQ(re.GroupIndex("none"), -1);
  std::optional<ReMatch> m = re.Match("  ab-12", 2);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->group("  ab-12", 1), "ab");
  EXPECT_EQ(m->group("  ab-12", 2), "12");
  EXPECT_FALSE(re.Match("  ab-12").has_value());
  ASSERT_TRUE(re.Search("  x").has_value());
  EXPECT_FALSE(re.Search("  x")->has(2));
  EXPECT_EQ(re.Sub("ab-12 cd", R"(<\g<num>|\2|\g<1>|\g<word>>\n)"),
            "<12|12|ab|ab>\n <||cd|cd>\n");
  // A template Python would reject is copied as it stands.
  EXPECT_EQ(re.Sub("ab", R"(\q\9\g<zz>)"), R"(\q\9\g<zz>)");
}

TEST(PyReTest, FindSpansIteratesAsTheTokenizerDoes) {
  ASSERT_OK_AND_ASSIGN(
      Regex gpt2,
      Regex::CompilePcre2(
          R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"));
  Spans spans;
  ASSERT_OK(gpt2.FindSpans("Hello world's 42  !", &spans));
  EXPECT_THAT(spans, ElementsAre(std::pair<size_t, size_t>{0, 5},
                                 std::pair<size_t, size_t>{5, 11},
                                 std::pair<size_t, size_t>{11, 13},
                                 std::pair<size_t, size_t>{13, 16},
                                 std::pair<size_t, size_t>{16, 17},
                                 std::pair<size_t, size_t>{17, 19}));
  // Empty matches are dropped and the search moves one character on, so
  // "b" is never reached (Python's finditer would find it).
  ASSERT_OK_AND_ASSIGN(Regex empty_first, Regex::CompilePcre2("a*|b"));
  spans.clear();
  ASSERT_OK(
      empty_first.FindSpans("b\xc3\xa9"
                            "aa",
                            &spans));
  EXPECT_THAT(spans, ElementsAre(std::pair<size_t, size_t>{3, 5}));
  EXPECT_THAT(Regex::CompileOrDie("a*|b").FindAll("b"),
              ElementsAre(ElementsAre(""), ElementsAre("b"), ElementsAre("")));
  // A long run of one class stays within the JIT stack.
  spans.clear();
  ASSERT_OK(gpt2.FindSpans(std::string(200 * 1024, ' ') + "x", &spans));
  EXPECT_EQ(spans.size(), 2u);
}

TEST(PyRegexTest, FindAllAndSubMatchPython) {
  const std::vector<std::string> patterns = {
      "#### (\\-?[0-9\\.\\,]+)",
      "(-?[$0-9.,]{2,})|(-?[0-9]+)",
      "The answer is (\\-?[0-9\\.\\,]+).",
      "The final answer is ((-?[$0-9.,]{2,})|(-?[0-9]+))",
      "(?s).*#### ",
      "\\.$",
      "\\d*",
      "\\w+",
      "\\bcat\\b",
      "(?<=answer is )(.*)(?=.)",
      "x*",
  };
  const std::vector<std::string> texts = {
      "So 3 + 4 = 7.\n#### 7",
      "It costs $1,234.50 in total. The answer is 1,234.",
      "The final answer is $18.\nThe final answer is 20",
      "a12b 345 ",
      "caf\xc3\xa9 na\xc3\xafve \xd9\xa3\xd9\xa4 cat concat cat.",
      "line one\nline two #### 5\n",
      "",
      "ends with a period.\n",
  };
  std::string script = "import re, json\nout = []\n";
  for (const std::string& p : patterns) {
    for (const std::string& t : texts) {
      absl::StrAppend(&script,
                      "out.append([[list(m) if isinstance(m, tuple) else [m] "
                      "for m in re.findall(",
                      PyLiteral(p), ", ", PyLiteral(t), ")], re.sub(",
                      PyLiteral(p), ", '', ", PyLiteral(t), "), re.search(",
                      PyLiteral(p), ", ", PyLiteral(t), ") is not None])\n");
    }
  }
  script += "print(json.dumps(out))\n";
  absl::StatusOr<std::string> out = testing::RunPythonScript(script);
  if (absl::IsNotFound(out.status()))
    GTEST_SKIP() << "no Python to compare with: " << out.status();
  ASSERT_OK(out);
  ASSERT_OK_AND_ASSIGN(base::Json expected, base::ParseJson(*out));
  size_t i = 0;
  for (const std::string& p : patterns) {
    ASSERT_OK_AND_ASSIGN(Regex regex, Regex::Compile(p));
    for (const std::string& t : texts) {
      const base::Json& row = expected.array()[i++];
      base::Json got_matches = base::Json::MakeArray();
      for (const auto& match : regex.FindAll(t)) {
        base::Json groups = base::Json::MakeArray();
        for (const std::string& g : match) groups.Push(base::Json::String(g));
        got_matches.Push(std::move(groups));
      }
      EXPECT_EQ(got_matches.Dump(), row.array()[0].Dump())
          << "findall " << p << " on " << t;
      EXPECT_EQ(regex.Sub(t, ""), row.array()[1].string_value())
          << "sub " << p << " on " << t;
      EXPECT_EQ(regex.Search(t).has_value(), row.array()[2].bool_value())
          << "search " << p << " on " << t;
    }
  }
}

TEST(PyRegexTest, FlagsAndErrors) {
  ASSERT_OK_AND_ASSIGN(Regex ci,
                       Regex::Compile("hello", {.ignore_case = true}));
  EXPECT_TRUE(ci.Search("Say HELLO"));
  ASSERT_OK_AND_ASSIGN(Regex ml, Regex::Compile("^b$", {.multiline = true}));
  EXPECT_TRUE(ml.Search("a\nb\nc"));
  ASSERT_OK_AND_ASSIGN(Regex dot, Regex::Compile("a.b", {.dotall = true}));
  EXPECT_TRUE(dot.Search("a\nb"));
  ASSERT_OK_AND_ASSIGN(Regex verbose,
                       Regex::Compile("a b # [comment\n c", {.verbose = true}));
  EXPECT_TRUE(verbose.Search("abc"));
  auto bad = Regex::Compile("(unclosed");
  EXPECT_THAT(bad, testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("(unclosed")));
}

// Code point index of each byte offset of `text` (and of its end).
std::vector<int> CodePointIndex(absl::string_view text) {
  std::vector<int> index(text.size() + 1, -1);
  int n = 0;
  for (size_t pos = 0; pos < text.size();) {
    index[pos] = n++;
    base::DecodeUtf8At(text, &pos);
  }
  index[text.size()] = n;
  return index;
}

TEST(PyReTest, PythonSyntaxMatchesPython) {
  struct Case {
    std::string pattern;
    ReFlags flags;
  };
  const std::vector<Case> cases = {
      {R"(\s+)", {}},
      {R"(\S+)", {}},
      {R"([\S]+)", {}},
      {R"([^\S\n]+)", {}},
      {R"([\s\S]{2})", {}},
      {R"([^\S]+)", {}},
      {R"([\Sa]+)", {}},
      {R"([^\Sa ]+)", {}},
      {R"([\S^]+)", {}},
      {R"(\w+\Z)", {}},
      {R"(\w+$)", {}},
      {R"(a{,2})", {}},
      {R"(a{,}b)", {}},
      {R"(x{2,}|y{1,2}?)", {}},
      {R"(\v|\x41|\u00e9|\U0001F600|\N{EM DASH}|\N{latin small letter a})", {}},
      {R"(\101\0\08[\1\101])", {}},
      {R"((\w)\1)", {}},
      {R"((?P<q>['"]).*?(?P=q))", {}},
      {R"(^\w+)", {.multiline = true}},
      {R"(^)", {.multiline = true}},
      {R"(\w+ # a comment with [ and (
          \d   # digits)",
       {.verbose = true}},
      {"(?x) a [ ] b # ]", {}},
      {R"((?i)straße|ǅ)", {}},
      {R"(ß|ſ|k)", {.ignore_case = true}},
      {R"((?u)\w+)", {}},
      {R"((?s:a.)b)", {}},
      {R"((?i:A)a)", {}},
      {R"(a(?#comment)*)", {}},
      {R"([[:alpha:]])", {}},
      {R"((a)?(?(1)b|c))", {}},
      {R"(\b\w)", {}},
      {R"(\B.)", {}},
      {R"([\d\-]+)", {}},
      {R"(\-\#\ \é)", {}},
      {R"((?>a+)b|a)", {}},
      {R"(a*+b)", {}},
      // Patterns Python refuses (and PCRE2 would take or read otherwise).
      {R"(\p{L})", {}},
      {R"(\h)", {}},
      {R"(\K)", {}},
      {R"(\Q*\E)", {}},
      {R"((*UTF)a)", {}},
      {R"((?<n>a))", {}},
      {R"((?P>n))", {}},
      {R"(a(?i)b)", {}},
      {R"([a-\s])", {}},
      {R"([\S-z])", {}},
      {R"(\x4)", {}},
      {R"(\2(a))", {}},
      {R"([\8])", {}},
      {R"(\400)", {}},
      {R"(\N{NO SUCH NAME})", {}},
      {R"(a\)", {}},
  };
  const std::vector<std::string> texts = {
      "Hello, World! ab ba aab\n\nline 2\t end\n",
      "x\x1c y\u180ez\u00a0w\u0085v\u2028u\u200bt\u3000\x0b",
      "AÉé😀—a AA aaa aaab a{,2}b 0\x00"
      "8\x01A",
      "'quoted' \"double\" 'mixed\" ab ac c b",
      "STRASSE straße Straße ǅ ǆ Ǆ ß ẞ ſ s S k K \u212a",
      "[:alpha:] a ] b ] ab xxxy",
      "12-34 -5 1\n2\n",
      "-# é ",
  };
  std::string script = "import re, json\nout = []\n";
  for (const Case& c : cases) {
    std::string flags = "0";
    if (c.flags.ignore_case) flags += "|re.I";
    if (c.flags.multiline) flags += "|re.M";
    if (c.flags.dotall) flags += "|re.S";
    if (c.flags.verbose) flags += "|re.X";
    absl::StrAppend(&script, "try:\n  p = re.compile(", PyLiteral(c.pattern),
                    ", ", flags, ")\n",
                    "  out.append([[[m.span(g) for g in range(p.groups + 1)] "
                    "for m in p.finditer(t)] for t in ",
                    "TEXTS])\nexcept re.error as e:\n  out.append(str(e))\n");
  }
  std::string text_list = "TEXTS = [";
  for (const std::string& t : texts)
    absl::StrAppend(&text_list, PyLiteral(t), ", ");
  script = absl::StrCat(text_list, "]\n", script, "print(json.dumps(out))\n");
  absl::StatusOr<std::string> out = testing::RunPythonScript(script);
  if (absl::IsNotFound(out.status()))
    GTEST_SKIP() << "no Python to compare with: " << out.status();
  ASSERT_OK(out);
  ASSERT_OK_AND_ASSIGN(base::Json expected, base::ParseJson(*out));
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const base::Json& python = expected.array()[i];
    absl::StatusOr<Regex> regex = Regex::Compile(c.pattern, c.flags);
    if (python.is_string()) {
      EXPECT_FALSE(regex.ok()) << c.pattern << ": Python refuses it ("
                               << python.string_value() << ")";
      continue;
    }
    EXPECT_TRUE(regex.ok()) << regex.status();
    if (!regex.ok()) continue;
    for (size_t t = 0; t < texts.size(); ++t) {
      const std::vector<int> index = CodePointIndex(texts[t]);
      base::Json ours = base::Json::MakeArray();
      for (const ReMatch& m : regex->FindIter(texts[t])) {
        base::Json groups = base::Json::MakeArray();
        for (int g = 0; g <= regex->group_count(); ++g) {
          base::Json span = base::Json::MakeArray();
          span.Push(base::Json::Int(m.has(g) ? index[m.start(g)] : -1));
          span.Push(base::Json::Int(m.has(g) ? index[m.end(g)] : -1));
          groups.Push(std::move(span));
        }
        ours.Push(std::move(groups));
      }
      EXPECT_EQ(ours.Dump(), python.array()[t].Dump())
          << c.pattern << " on " << texts[t];
    }
  }
}

TEST(PyReTest, SubAndSplitMatchPython) {
  const std::vector<std::pair<std::string, std::string>> subs = {
      {R"((\w+) (\w+))", R"(\2 \1)"},
      {R"((a)|b)", R"([\1])"},
      {R"((?P<x>\d))", R"(<\g<x>\g<0>>)"},
      {R"(x*)", "-"},
      {R"(\b)", "|"},
      {R"(\s)", R"(\n\t\\\-\101\0)"},
      {R"(([«“‘„]|[`]+))", R"( \1 )"},
      {R"(([^\.])(\.)([\]\)}>"\']*)\s*$)", R"(\1 \2\3 )"},
      {R"([;@#$%&])", R"( \g<0> )"},
  };
  const std::vector<std::string> splits = {R"(\s*)", R"((-)|(\+))", R"(\b)",
                                           R"(,)", R"(x*)"};
  const std::vector<std::string> texts = {"hello big world", "a-b+c, d",
                                          "«quote» ``x`` done. ", "", "a;b@c"};
  std::string script = "import re, json\nout = []\n";
  for (const auto& [p, repl] : subs) {
    for (const std::string& t : texts) {
      absl::StrAppend(&script, "out.append(re.sub(", PyLiteral(p), ", ",
                      PyLiteral(repl), ", ", PyLiteral(t), "))\n");
    }
  }
  for (const std::string& p : splits) {
    for (const std::string& t : texts) {
      absl::StrAppend(
          &script, "out.append([x if x is not None else '' for x in re.split(",
          PyLiteral(p), ", ", PyLiteral(t), ")])\n");
    }
  }
  script += "print(json.dumps(out))\n";
  absl::StatusOr<std::string> out = testing::RunPythonScript(script);
  if (absl::IsNotFound(out.status()))
    GTEST_SKIP() << "no Python to compare with: " << out.status();
  ASSERT_OK(out);
  ASSERT_OK_AND_ASSIGN(base::Json expected, base::ParseJson(*out));
  size_t i = 0;
  for (const auto& [p, repl] : subs) {
    const Regex regex = Regex::CompileOrDie(p);
    for (const std::string& t : texts) {
      EXPECT_EQ(regex.Sub(t, repl), expected.array()[i++].string_value())
          << p << " -> " << repl << " on " << t;
    }
  }
  for (const std::string& p : splits) {
    const Regex regex = Regex::CompileOrDie(p);
    for (const std::string& t : texts) {
      base::Json ours = base::Json::MakeArray();
      for (const std::string& piece : regex.Split(t))
        ours.Push(base::Json::String(piece));
      EXPECT_EQ(ours.Dump(), expected.array()[i++].Dump())
          << "split " << p << " on " << t;
    }
  }
}

TEST(PyReTest, ClassesOverEveryCodePointMatchPython) {
  const std::vector<std::string> patterns = {
      R"(\s)", R"(\S)", R"(\w)", R"(\W)", R"(\d)", R"([^\S\n])", R"(\b)"};
  std::string script = R"(
import re, unicodedata
def ranges(pred):
    out, start = [], None
    for c in range(0x110000):
        if pred(c):
            if start is None: start = c
        elif start is not None:
            out.append('%x-%x' % (start, c - 1)); start = None
    if start is not None: out.append('%x-10ffff' % start)
    return ' '.join(out)
print(unicodedata.unidata_version)
print(ranges(lambda c: unicodedata.category(chr(c)) != 'Cn'))
)";
  for (const std::string& p : patterns) {
    absl::StrAppend(
        &script, "m = re.compile(", PyLiteral(p),
        ").match\nprint(ranges(lambda c: m(chr(c)) is not None))\n");
  }
  absl::StatusOr<std::string> out = testing::RunPythonScript(script);
  if (absl::IsNotFound(out.status()))
    GTEST_SKIP() << "no Python to compare with: " << out.status();
  ASSERT_OK(out);
  std::vector<absl::string_view> lines = absl::StrSplit(*out, '\n');
  ASSERT_GE(lines.size(), patterns.size() + 2);
  // Compared where Python, PCRE2 and ICU (the judge of "assigned") agree on
  // the Unicode version of the code point.
  char pcre2_unicode[32] = {};
  pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, pcre2_unicode);
  auto major_minor = [](absl::string_view v) {
    std::vector<absl::string_view> parts = absl::StrSplit(v, '.');
    int major = 0, minor = 0;
    if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &major) ||
        !absl::SimpleAtoi(parts[1], &minor))
      return 0;
    return major * 100 + minor;
  };
  const int newest =
      std::min(major_minor(lines[0]), major_minor(pcre2_unicode));
  std::vector<Regex> ours;
  for (const std::string& p : patterns) ours.push_back(Regex::CompileOrDie(p));
  std::vector<std::vector<bool>> python(patterns.size(),
                                        std::vector<bool>(0x110000));
  std::vector<bool> assigned(0x110000);
  {
    auto expand = [](absl::string_view ranges, std::vector<bool>* set) {
      for (absl::string_view range :
           absl::StrSplit(ranges, ' ', absl::SkipEmpty())) {
        std::pair<absl::string_view, absl::string_view> ends =
            absl::StrSplit(range, '-');
        uint32_t first = 0, last = 0;
        ASSERT_TRUE(absl::SimpleHexAtoi(ends.first, &first) &&
                    absl::SimpleHexAtoi(ends.second, &last));
        for (uint32_t cp = first; cp <= last; ++cp) (*set)[cp] = true;
      }
    };
    expand(lines[1], &assigned);
    for (size_t k = 0; k < patterns.size(); ++k)
      expand(lines[k + 2], &python[k]);
  }
  int compared = 0, mismatches = 0;
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    UVersionInfo age;
    u_charAge(static_cast<UChar32>(cp), age);
    const bool icu_assigned =
        u_charType(static_cast<UChar32>(cp)) != U_UNASSIGNED;
    if (icu_assigned != assigned[cp] ||
        (icu_assigned && age[0] * 100 + age[1] > newest))
      continue;
    ++compared;
    std::string c;
    base::AppendUtf8(cp, &c);
    for (size_t k = 0; k < patterns.size(); ++k) {
      const bool matched = ours[k].Match(c).has_value();
      if (matched != python[k][cp] && ++mismatches <= 20) {
        ADD_FAILURE() << patterns[k] << " on U+" << std::hex << cp
                      << ": Python " << python[k][cp];
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
  std::printf(
      "[ compared ] %d code points with Python (Unicode %s, PCRE2's %s)\n",
      compared, std::string(lines[0]).c_str(), pcre2_unicode);
  EXPECT_GT(compared, 1000000);
}

}  // namespace
}  // namespace evald::py
