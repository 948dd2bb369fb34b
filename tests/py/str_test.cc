// File: tests/py/str_test.cc
// py/str.h against CPython: fixed cases first, then every code point's
// isspace/isalpha/isdigit/isalnum/islower/isupper and upper/lower/title/
// casefold/capitalize, then methods on whole strings, all asked of
// /usr/bin/python3 when it is installed.
#include "py/str.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unicode/uchar.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/json.h"
#include "base/utf8.h"
#include "tests/py/python.h"
#include "tests/testing/status_matchers.h"

namespace evald::py {
namespace {

using ::testing::ElementsAre;

std::string Utf8(uint32_t cp) {
  std::string out;
  base::AppendUtf8(cp, &out);
  return out;
}

// Every code point for which Python's str.isspace() is true.
constexpr uint32_t kPythonSpaces[] = {
    0x09,   0x0a,   0x0b,   0x0c,   0x0d,   0x1c,   0x1d,   0x1e,
    0x1f,   0x20,   0x85,   0xa0,   0x1680, 0x2000, 0x2001, 0x2002,
    0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
    0x2028, 0x2029, 0x202f, 0x205f, 0x3000};

TEST(PyStrTest, IsSpaceIsPythonsSetWithoutAskingPython) {
  std::vector<uint32_t> ours;
  for (uint32_t cp = 0; cp <= 0x10ffff; ++cp) {
    if (IsSpace(cp)) ours.push_back(cp);
  }
  EXPECT_EQ(ours, std::vector<uint32_t>(std::begin(kPythonSpaces),
                                        std::end(kPythonSpaces)));
  EXPECT_FALSE(IsSpace(0x180eu));  // whitespace before Unicode 6.3
  EXPECT_FALSE(IsSpace(0x200bu));
  EXPECT_TRUE(IsSpace(" \t\xc2\xa0\xe3\x80\x80"));
  EXPECT_FALSE(IsSpace(""));
  EXPECT_FALSE(IsSpace(" \xa0"));  // a stray byte is not a space
}

TEST(PyStrTest, LowerUsesFullCaseMappingAndFinalSigma) {
  EXPECT_EQ(Lower("İ"), "i\xcc\x87");  // 'İ'.lower() == 'i̇'
  EXPECT_EQ(Lower("ΟΔΟΣ ΟΔΟΣ."), "οδος οδος.");
  EXPECT_EQ(Lower("ABC Déjà"), "abc déjà");
  EXPECT_EQ(Upper("straße"), "STRASSE");
  EXPECT_EQ(Upper("ﬁx"), "FIX");
  EXPECT_EQ(Casefold("Straße"), "strasse");
  EXPECT_EQ(Title("ǆemal ßa ΑΣ"), "ǅemal Ssa Ας");
  EXPECT_EQ(Capitalize("ǆA"), "ǅa");
}

TEST(PyStrTest, IsUpperAndIsLowerFollowCasedCharacters) {
  EXPECT_TRUE(IsUpper("HELLO 123"));
  EXPECT_FALSE(IsUpper("123"));  // no cased character
  EXPECT_FALSE(IsUpper("ǅ"));    // titlecase is neither
  EXPECT_TRUE(IsUpper("ΑΒΓ"));
  EXPECT_TRUE(IsLower("straße"));
  EXPECT_FALSE(IsLower("ǅa"));
  EXPECT_FALSE(IsLower(""));
  EXPECT_TRUE(IsLower("ª"));  // Other_Lowercase, with no uppercase
}

TEST(PyStrTest, StripAndSplitUseUnicodeWhitespace) {
  EXPECT_EQ(Strip("\u3000\x1c hi \xc2\x85"), "hi");
  EXPECT_THAT(SplitWhitespace(" a\u2003b  c "), ElementsAre("a", "b", "c"));
  EXPECT_THAT(Split("a\n\nb\n\n", "\n\n"), ElementsAre("a", "b", ""));
  EXPECT_EQ(Strip("**bold**", "*"), "bold");
  // U+00A0, U+3000 and U+2028 are whitespace for str.strip(); U+200B is not.
  EXPECT_EQ(Strip("\xc2\xa0\t x y \xe3\x80\x80\xe2\x80\xa8\n"), "x y");
  EXPECT_EQ(Strip("\xe2\x80\x8bx"), "\xe2\x80\x8bx");
  EXPECT_EQ(Strip("   "), "");
  EXPECT_EQ(RStrip("  a  "), "  a");
  EXPECT_EQ(LStrip("  a  "), "a  ");
}

TEST(PyStrTest, BytesThatAreNotUtf8AreNeverSpacesAndSurviveCaseMapping) {
  EXPECT_EQ(RStrip("a \xa0"), "a \xa0");
  EXPECT_EQ(RStrip("a\x85"), "a\x85");
  EXPECT_EQ(Strip("\xff x \xe4\xb8"), "\xff x \xe4\xb8");
  EXPECT_EQ(RStrip("x\xe4\xb8 "), "x\xe4\xb8");
  EXPECT_THAT(SplitWhitespace("a\xff b"), ElementsAre("a\xff", "b"));
  EXPECT_EQ(Upper("\xff\xc3\xa9"), "\xff\xc3\x89");
  EXPECT_EQ(Lower("\xc3\x89\xff"), "\xc3\xa9\xff");
  EXPECT_EQ(Title("\xff\xc3\xa9t\xc3\xa9"), "\xff\xc3\x89t\xc3\xa9");
}

// The half-open code point ranges "a-b a-b ..." (hex) Python printed.
std::vector<std::pair<uint32_t, uint32_t>> ParseRanges(absl::string_view text) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (absl::string_view range : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> ends =
        absl::StrSplit(range, '-');
    uint32_t first = 0, last = 0;
    EXPECT_TRUE(absl::SimpleHexAtoi(ends.first, &first) &&
                absl::SimpleHexAtoi(ends.second, &last))
        << range;
    out.emplace_back(first, last);
  }
  return out;
}

bool InRanges(const std::vector<std::pair<uint32_t, uint32_t>>& ranges,
              uint32_t cp) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(),
                             std::make_pair(cp, UINT32_MAX));
  return it != ranges.begin() && std::prev(it)->second >= cp;
}

constexpr char kRangesFunction[] = R"(
import sys, unicodedata
def ranges(pred):
    out, start = [], None
    for c in range(0x110000):
        if pred(c):
            if start is None: start = c
        elif start is not None:
            out.append('%x-%x' % (start, c - 1)); start = None
    if start is not None: out.append('%x-10ffff' % start)
    return ' '.join(out)
)";

TEST(PyStrTest, EveryCodePointClassifiesAndMapsAsPython) {
  const std::string script = absl::StrCat(kRangesFunction, R"(
print(unicodedata.unidata_version)
print(ranges(lambda c: unicodedata.category(chr(c)) != 'Cn'))
for name in ['isspace', 'isalpha', 'isdigit', 'isalnum', 'islower', 'isupper']:
    f = getattr(str, name)
    print(name, ranges(lambda c: f(chr(c))))
for name in ['upper', 'lower', 'title', 'casefold', 'capitalize']:
    f = getattr(str, name)
    for c in range(0x110000):
        r = f(chr(c))
        if r != chr(c): print(name, '%x' % c, ' '.join('%x' % ord(x) for x in r))
)");
  absl::StatusOr<std::string> out = testing::RunPythonScript(script);
  if (absl::IsNotFound(out.status()))
    GTEST_SKIP() << "no Python to compare with: " << out.status();
  ASSERT_OK(out);
  std::vector<absl::string_view> lines =
      absl::StrSplit(*out, '\n', absl::SkipEmpty());
  ASSERT_GT(lines.size(), 8u);
  const std::string python_unicode(lines[0]);
  const auto python_assigned = ParseRanges(lines[1]);
  std::map<std::string, std::vector<std::pair<uint32_t, uint32_t>>> python_sets;
  std::map<std::string, std::map<uint32_t, std::string>> python_maps;
  for (size_t i = 2; i < lines.size(); ++i) {
    std::vector<absl::string_view> fields = absl::StrSplit(lines[i], ' ');
    const std::string name(fields[0]);
    if (absl::StartsWith(name, "is")) {
      python_sets[name] = ParseRanges(lines[i].substr(name.size()));
      continue;
    }
    uint32_t cp = 0;
    ASSERT_TRUE(absl::SimpleHexAtoi(fields[1], &cp)) << lines[i];
    std::string mapped;
    for (size_t k = 2; k < fields.size(); ++k) {
      uint32_t m = 0;
      ASSERT_TRUE(absl::SimpleHexAtoi(fields[k], &m)) << lines[i];
      base::AppendUtf8(m, &mapped);
    }
    python_maps[name][cp] = mapped;
  }

  const std::vector<
      std::pair<std::string, std::function<bool(absl::string_view)>>>
      predicates = {{"isspace", [](absl::string_view s) { return IsSpace(s); }},
                    {"isalpha", IsAlpha},
                    {"isdigit", IsDigit},
                    {"isalnum", IsAlnum},
                    {"islower", IsLower},
                    {"isupper", IsUpper}};
  const std::vector<
      std::pair<std::string, std::function<std::string(absl::string_view)>>>
      mappings = {{"upper", Upper},
                  {"lower", Lower},
                  {"title", Title},
                  {"casefold", Casefold},
                  {"capitalize", Capitalize}};
  // Python and ICU may carry different Unicode versions: a code point one of
  // them has not assigned yet is left out (surrogates cannot be UTF-8), and
  // the few properties Unicode changed between the two are told apart.
  const std::set<std::pair<std::string, uint32_t>> version_changes =
      python_unicode == "14.0.0" && absl::StartsWith(U_UNICODE_VERSION, "15.")
          // Unicode 15.0 made these modifier letters Other_Lowercase.
          ? std::set<std::pair<std::string, uint32_t>>{{"islower", 0x10fc},
                                                       {"islower", 0xa7f2},
                                                       {"islower", 0xa7f3},
                                                       {"islower", 0xa7f4},
                                                       {"islower", 0xab69}}
          : std::set<std::pair<std::string, uint32_t>>{};
  int compared = 0, skipped = 0, mismatches = 0, changed = 0;
  for (uint32_t cp = 0; cp <= 0x10ffff; ++cp) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    if (InRanges(python_assigned, cp) !=
        (u_charType(static_cast<UChar32>(cp)) != U_UNASSIGNED)) {
      ++skipped;
      continue;
    }
    ++compared;
    const std::string c = Utf8(cp);
    for (const auto& [name, ours] : predicates) {
      const bool python = InRanges(python_sets[name], cp);
      if (ours(c) != python && version_changes.count({name, cp}) != 0) {
        ++changed;
      } else if (ours(c) != python && ++mismatches <= 20) {
        ADD_FAILURE() << "U+" << std::hex << cp << " " << name << ": Python "
                      << python;
      }
    }
    for (const auto& [name, ours] : mappings) {
      auto it = python_maps[name].find(cp);
      const std::string python = it == python_maps[name].end() ? c : it->second;
      if (ours(c) != python && ++mismatches <= 20) {
        ADD_FAILURE() << "U+" << std::hex << cp << " " << name << ": ours '"
                      << ours(c) << "', Python '" << python << "'";
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
  std::printf(
      "[ compared ] %d code points with Python (Unicode %s); ICU has Unicode "
      "%s: %d assigned in only "
      "one, %d properties that changed between the versions\n",
      compared, python_unicode.c_str(), U_UNICODE_VERSION, skipped, changed);
  EXPECT_GT(compared, 1000000);
}

std::string PyLiteral(absl::string_view s) {
  return testing::PythonStrLiteral(s);
}

TEST(PyStrTest, StringMethodsMatchPython) {
  const std::vector<std::string> texts = {
      "",
      "  Hello, World!  ",
      "ΟΔΟΣ ΟΔΟΣ. ΣΑ ΑΣ Α.Σ Σ",
      "Α\u0345Σ \u0345Σ ΑΣ\u0345 ΑΣ\u0345Α",  // case-ignorable around sigma
      "ǆemal ǈubljana ǋ ßtraße ﬁsh ŉ 'İstanbul' ǅA",
      "they're bill's friends from the UK",
      "x1y2 3rd 4TH hello-world foo_bar",
      " a\tb\nc\x0b d\x0c e\x1c f\x1d g\x1e h\x1f "
      "i\u0085j\u00a0k\u2028l\u2029m\u3000n\r\no\ro ",
      "line1\n\nline3\r\n",
      "  lead and trail  \u2003",
      "数字１２３ ²³ Ⅷ ½ 一二三 ٣٤",
      "ᾳ ᾼ ﬀ ΐ ǰ",
      "🙂 emoji 👍🏽 ok",
  };
  std::string script = "import json\nout = []\n";
  for (const std::string& t : texts) {
    const std::string s = PyLiteral(t);
    absl::StrAppend(&script, "s = ", s, "\n",
                    "out.append([s.upper(), s.lower(), s.casefold(), "
                    "s.title(), s.capitalize(), s.strip(), "
                    "s.lstrip(), s.rstrip(), s.strip(' Ha!'), s.split(), "
                    "s.split(None, 1), s.split(None, 0), "
                    "s.split(' '), s.split(' ', 2), s.splitlines(), "
                    "s.isspace(), s.isalpha(), s.isdigit(), "
                    "s.isalnum(), s.islower(), s.isupper()])\n");
  }
  script += "print(json.dumps(out))\n";
  absl::StatusOr<std::string> out = testing::RunPythonScript(script);
  if (absl::IsNotFound(out.status()))
    GTEST_SKIP() << "no Python to compare with: " << out.status();
  ASSERT_OK(out);
  ASSERT_OK_AND_ASSIGN(base::Json expected, base::ParseJson(*out));
  auto list = [](const std::vector<std::string>& v) {
    base::Json j = base::Json::MakeArray();
    for (const std::string& s : v) j.Push(base::Json::String(s));
    return j.Dump();
  };
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string& s = texts[i];
    const std::vector<base::Json>& row = expected.array()[i].array();
    size_t k = 0;
    auto str = [&](const std::string& ours, const char* what) {
      EXPECT_EQ(ours, row[k++].string_value()) << what << " of " << s;
    };
    str(Upper(s), "upper");
    str(Lower(s), "lower");
    str(Casefold(s), "casefold");
    str(Title(s), "title");
    str(Capitalize(s), "capitalize");
    str(std::string(Strip(s)), "strip");
    str(std::string(LStrip(s)), "lstrip");
    str(std::string(RStrip(s)), "rstrip");
    str(std::string(Strip(s, " Ha!")), "strip(chars)");
    auto vec = [&](const std::vector<std::string>& ours, const char* what) {
      EXPECT_EQ(list(ours), row[k++].Dump()) << what << " of " << s;
    };
    vec(SplitWhitespace(s), "split()");
    vec(SplitWhitespace(s, 1), "split(None, 1)");
    vec(SplitWhitespace(s, 0), "split(None, 0)");
    vec(Split(s, " "), "split(' ')");
    vec(Split(s, " ", 2), "split(' ', 2)");
    vec(SplitLines(s), "splitlines()");
    auto flag = [&](bool ours, const char* what) {
      EXPECT_EQ(ours, row[k++].bool_value()) << what << " of " << s;
    };
    flag(IsSpace(s), "isspace");
    flag(IsAlpha(s), "isalpha");
    flag(IsDigit(s), "isdigit");
    flag(IsAlnum(s), "isalnum");
    flag(IsLower(s), "islower");
    flag(IsUpper(s), "isupper");
  }
}

}  // namespace
}  // namespace evald::py
