// Python str and re semantics. Expected values were taken from CPython 3.11.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tasks/ifeval/nltk_words.h"
#include "tasks/ifeval/py_re.h"
#include "tasks/ifeval/py_str.h"

namespace evald::tasks::ifeval {
namespace {

using ::testing::ElementsAre;

TEST(PyStrTest, LowerUsesFullCaseMappingAndFinalSigma) {
  EXPECT_EQ(PyLower("İ"), "i\xcc\x87");  // 'İ'.lower() == 'i̇'
  EXPECT_EQ(PyLower("ΟΔΟΣ ΟΔΟΣ."), "οδος οδος.");
  EXPECT_EQ(PyLower("ABC Déjà"), "abc déjà");
}

TEST(PyStrTest, IsUpperAndIsLowerFollowCasedCharacters) {
  EXPECT_TRUE(PyIsUpper("HELLO 123"));
  EXPECT_FALSE(PyIsUpper("123"));  // no cased character
  EXPECT_FALSE(PyIsUpper("ǅ"));    // titlecase is neither
  EXPECT_TRUE(PyIsUpper("ΑΒΓ"));
  EXPECT_TRUE(PyIsLower("straße"));
  EXPECT_FALSE(PyIsLower("ǅa"));
  EXPECT_FALSE(PyIsLower(""));
}

TEST(PyStrTest, StripAndSplitUseUnicodeWhitespace) {
  EXPECT_EQ(PyStrip("\u3000\x1c hi \xc2\x85"), "hi");
  EXPECT_THAT(PySplitWhitespace(" a\u2003b  c "), ElementsAre("a", "b", "c"));
  EXPECT_THAT(PySplit("a\n\nb\n\n", "\n\n"), ElementsAre("a", "b", ""));
  EXPECT_EQ(PyStripChars("**bold**", "*"), "bold");
  EXPECT_EQ(PyLen("é東"), 2u);
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
  EXPECT_EQ(CountWords("naïve café 東京 x_y 3.5"), 6u);
  EXPECT_FALSE(Regex::CompileOrDie(R"(\bcat\b)", {.ignore_case = true})
                   .Search("concatenate"));
  EXPECT_TRUE(Regex::CompileOrDie(R"(\bcat\b)", {.ignore_case = true})
                  .Search("the CAT sat"));
  EXPECT_TRUE(Regex::CompileOrDie(R"(\bcafé\b)", {.ignore_case = true})
                  .Search("un café noir"));
}

TEST(PyReTest, MultilineAnchorsAndClassesCrossNewlinesAsPython) {
  // [^\*] matches the newline after a lone "*", joining two lines.
  Regex re = Regex::CompileOrDie(R"(^\s*\*[^\*].*$)", {.multiline = true});
  EXPECT_EQ(re.Count("* a\n  * b\n** c\n*\n* d"), 3u);
}

TEST(PyReTest, CompileErrorNamesPattern) {
  absl::StatusOr<Regex> re = Regex::Compile("(unclosed");
  ASSERT_FALSE(re.ok());
  EXPECT_THAT(std::string(re.status().message()),
              ::testing::HasSubstr("(unclosed"));
}

}  // namespace
}  // namespace evald::tasks::ifeval
