// Punkt sentence splitting and NLTK word tokenization. The parameter files
// are a small fixture written here; the expected splits were produced by
// NLTK 3.8's PunktSentenceTokenizer and NLTKWordTokenizer given the same
// parameters.
#include "tasks/ifeval/punkt.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "base/utf8.h"
#include "tasks/ifeval/nltk_words.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::tasks::ifeval {
namespace {

using ::evald::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

void WritePunktFixture(const std::string& dir) {
  testing::WriteTestFile(dir + "/abbrev_types.txt",
                         "dr\nmr\nu.s\ninc\ne.g\np.m\n");
  testing::WriteTestFile(dir + "/collocations.tab",
                         "##number##\tinternational\nj\tbach\n");
  testing::WriteTestFile(dir + "/sent_starters.txt", "the\nhowever\nit\n");
  testing::WriteTestFile(
      dir + "/ortho_context.tab",
      "smith\t6\njones\t4\nthe\t50\nhe\t34\nyesterday\t48\nit\t66\n"
      "bach\t12\npears\t32\neconomy\t32\n");
}

class PunktTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WritePunktFixture(dir_.path());
    ASSERT_OK_AND_ASSIGN(punkt_, PunktTokenizer::Load(dir_.path()));
  }
  std::vector<std::string> Split(const std::string& text) {
    return punkt_->Tokenize(text);
  }

  testing::TempDir dir_;
  std::unique_ptr<PunktTokenizer> punkt_;
};

TEST_F(PunktTest, AbbreviationsDoNotBreak) {
  EXPECT_THAT(Split("Dr. Smith arrived. He sat down."),
              ElementsAre("Dr. Smith arrived.", "He sat down."));
  EXPECT_THAT(
      Split("I met Mr. Jones at 5 p.m. yesterday. It rained!"),
      ElementsAre("I met Mr. Jones at 5 p.m. yesterday.", "It rained!"));
  EXPECT_THAT(
      Split("The U.S. economy grew. However, inflation rose."),
      ElementsAre("The U.S. economy grew.", "However, inflation rose."));
}

TEST_F(PunktTest, ClosingQuotesAndBracketsAreRealigned) {
  EXPECT_THAT(Split("She said \"Stop.\" Then she left."),
              ElementsAre("She said \"Stop.\"", "Then she left."));
  EXPECT_THAT(Split("He left (quickly.) Then he returned."),
              ElementsAre("He left (quickly.)", "Then he returned."));
  EXPECT_THAT(Split("Ça va? Très bien. «Oui.» Fin."),
              ElementsAre("Ça va?", "Très bien.", "«Oui.» Fin."));
}

TEST_F(PunktTest, EllipsesRepeatedMarksAndNumbers) {
  EXPECT_THAT(Split("Wait... what? Really!! Yes."),
              ElementsAre("Wait... what?", "Really!!", "Yes."));
  EXPECT_THAT(Split("Numbers like 3.14 are fine. Yes!"),
              ElementsAre("Numbers like 3.14 are fine.", "Yes!"));
  EXPECT_THAT(Split("Item 1. Apples\nItem 2. Pears."),
              ElementsAre("Item 1.", "Apples\nItem 2.", "Pears."));
}

TEST_F(PunktTest, CollocationsAndInitials) {
  // (##number##, international) is a collocation: no break after "12.".
  EXPECT_THAT(Split("See 12. International trade grew."),
              ElementsAre("See 12. International trade grew."));
  EXPECT_THAT(Split("J. Bach wrote music. the end"),
              ElementsAre("J. Bach wrote music.", "the end"));
  EXPECT_THAT(Split("A.\n\nB. c."), ElementsAre("A.\n\nB. c."));
}

TEST_F(PunktTest, EmptyAndUnterminatedText) {
  EXPECT_THAT(Split("Hello world"), ElementsAre("Hello world"));
  EXPECT_THAT(Split(""), IsEmpty());
  EXPECT_THAT(Split("   \n "), IsEmpty());
}

TEST_F(PunktTest, WordTokenizeMatchesNltk) {
  EXPECT_THAT(NltkWordTokenize("HELLO WORLD. THIS is A TEST. Dr. NO.", *punkt_),
              ElementsAre("HELLO", "WORLD", ".", "THIS", "is", "A", "TEST", ".",
                          "Dr.", "NO", "."));
}

TEST_F(PunktTest, Sha256CoversTheFiles) {
  std::string before = punkt_->sha256();
  EXPECT_EQ(before.size(), 64u);
  testing::WriteTestFile(dir_.Join("sent_starters.txt"), "the\n");
  ASSERT_OK_AND_ASSIGN(auto changed, PunktTokenizer::Load(dir_.path()));
  EXPECT_NE(changed->sha256(), before);
}

TEST(PunktLoadTest, ErrorsNameFileAndLine) {
  testing::TempDir dir;
  WritePunktFixture(dir.path());
  testing::WriteTestFile(dir.Join("ortho_context.tab"), "good\t4\nbad line\n");
  EXPECT_THAT(PunktTokenizer::Load(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ortho_context.tab: line 2")));
  EXPECT_THAT(PunktTokenizer::Load(dir.Join("missing")),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(TreebankTest, MatchesNltkWordTokenizer) {
  EXPECT_THAT(TreebankWordTokenize("Don't stop, CAN'T stop!"),
              ElementsAre("Do", "n't", "stop", ",", "CA", "N'T", "stop", "!"));
  EXPECT_THAT(
      TreebankWordTokenize("He said \"hello\" (twice)."),
      ElementsAre("He", "said", "``", "hello", "''", "(", "twice", ")", "."));
  EXPECT_THAT(
      TreebankWordTokenize("I cannot wanna go -- now..."),
      ElementsAre("I", "can", "not", "wan", "na", "go", "--", "now", "..."));
  EXPECT_THAT(TreebankWordTokenize("The U.S.A. is big."),
              ElementsAre("The", "U.S.A.", "is", "big", "."));
  EXPECT_THAT(TreebankWordTokenize("E-mail me at a@b.com; it's 5$ & more*"),
              ElementsAre("E-mail", "me", "at", "a", "@", "b.com", ";", "it",
                          "'s", "5", "$", "&", "more", "*"));
  EXPECT_THAT(TreebankWordTokenize("«Bonjour» l'ami's “quote” ’tis"),
              ElementsAre("«", "Bonjour", "»", "l'ami", "'s", "“", "quote", "”",
                          "’", "tis"));
  EXPECT_THAT(TreebankWordTokenize("WHAT IS THIS? A TEST."),
              ElementsAre("WHAT", "IS", "THIS", "?", "A", "TEST", "."));
}

TEST(CountWordsTest, CountsUnicodeWords) {
  EXPECT_EQ(CountWords("naïve café 東京 x_y 3.5"), 6u);
  // The length checkers count code points, as Python's len().
  EXPECT_EQ(base::CountCodePoints("é東"), 2u);
}

}  // namespace
}  // namespace evald::tasks::ifeval
