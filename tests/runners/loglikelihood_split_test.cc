// The lm-eval context/continuation split that every runner uses: trailing
// context whitespace by Python's str.isspace moves to the continuation. The
// whitespace set is checked against /usr/bin/python3 over every code point
// when Python is installed.
#include "runners/loglikelihood_split.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/utf8.h"

namespace evald::runners {
namespace {

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

TEST(LoglikelihoodSplitTest, EveryPythonSpaceMovesToTheContinuation) {
  for (uint32_t cp : kPythonSpaces) {
    const std::string space = Utf8(cp);
    const ContextContinuation split =
        SplitContextContinuation("Answer:" + space, "B");
    EXPECT_EQ(split.context, "Answer:") << std::hex << cp;
    EXPECT_EQ(split.continuation, space + "B") << std::hex << cp;
  }
}

TEST(LoglikelihoodSplitTest, NearMissesStayInTheContext) {
  // Zero-width space, Mongolian vowel separator (whitespace before Unicode
  // 6.3), BOM, soft hyphen, word joiner, and a letter whose UTF-8 ends in a
  // byte that is 0x85 (NEL) on its own.
  for (uint32_t cp : {0x200bu, 0x180eu, 0xfeffu, 0xadu, 0x2060u, 0x105u}) {
    const std::string tail = Utf8(cp);
    const ContextContinuation split =
        SplitContextContinuation("Answer:" + tail, " B");
    EXPECT_EQ(split.context, "Answer:" + tail) << std::hex << cp;
    EXPECT_EQ(split.continuation, " B") << std::hex << cp;
  }
}

TEST(LoglikelihoodSplitTest, RunsEmptyAndAllSpaceContexts) {
  const std::string mixed = " \t" + Utf8(0xa0) + "\n" + Utf8(0x3000) + "\x1c";
  ContextContinuation split = SplitContextContinuation("Q: 2+2?" + mixed, "4");
  EXPECT_EQ(split.context, "Q: 2+2?");
  EXPECT_EQ(split.continuation, mixed + "4");
  // Inner whitespace is untouched.
  split = SplitContextContinuation("a" + Utf8(0x3000) + "b", " c");
  EXPECT_EQ(split.context, "a" + Utf8(0x3000) + "b");
  EXPECT_EQ(split.continuation, " c");
  split = SplitContextContinuation(mixed, "x");
  EXPECT_EQ(split.context, "");
  EXPECT_EQ(split.continuation, mixed + "x");
  split = SplitContextContinuation("", "x");
  EXPECT_EQ(split.context, "");
  EXPECT_EQ(split.continuation, "x");
  // A stray byte is not whitespace, even 0x85 or 0xa0 on its own.
  split = SplitContextContinuation("a\x85", "b");
  EXPECT_EQ(split.context, "a\x85");
  split = SplitContextContinuation("a \xa0", "b");
  EXPECT_EQ(split.context, "a \xa0");
}

TEST(LoglikelihoodSplitTest, WhitespaceIsPythonsOverEveryCodePoint) {
  // The code points that the split moves out of the context.
  std::set<uint32_t> ours;
  for (uint32_t cp = 0; cp <= 0x10ffff; ++cp) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;  // not encodable in UTF-8
    if (SplitContextContinuation(absl::StrCat("a", Utf8(cp)), "").context ==
        "a")
      ours.insert(cp);
  }
  EXPECT_EQ(ours, std::set<uint32_t>(std::begin(kPythonSpaces),
                                     std::end(kPythonSpaces)));

  FILE* pipe = ::popen(
      "/usr/bin/python3 -c 'import sys; print(\",\".join(str(c) for c in "
      "range(0x110000) "
      "if chr(c).isspace()))' 2>/dev/null",
      "r");
  std::string out;
  if (pipe != nullptr) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
    if (::pclose(pipe) != 0) out.clear();
  }
  if (out.empty())
    GTEST_SKIP() << "no /usr/bin/python3 to compare str.isspace with";
  std::set<uint32_t> python;
  for (absl::string_view field :
       absl::StrSplit(out, ',', absl::SkipWhitespace())) {
    uint32_t cp = 0;
    ASSERT_TRUE(absl::SimpleAtoi(field, &cp)) << field;
    python.insert(cp);
  }
  EXPECT_EQ(ours, python);
}

}  // namespace
}  // namespace evald::runners
