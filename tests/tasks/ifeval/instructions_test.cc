// The 25 checkers on small hand-made cases, including the Unicode and regex
// corners where Python semantics matter.
#include "tasks/ifeval/instructions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "base/json.h"
#include "tasks/ifeval/language.h"
#include "tasks/ifeval/punkt.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::tasks::ifeval {
namespace {

using ::evald::testing::StatusIs;
using ::testing::HasSubstr;

class InstructionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteTestFile(dir_.Join("abbrev_types.txt"), "dr\nmr\n");
    testing::WriteTestFile(dir_.Join("collocations.tab"), "");
    testing::WriteTestFile(dir_.Join("sent_starters.txt"), "the\n");
    testing::WriteTestFile(dir_.Join("ortho_context.tab"), "smith\t6\n");
    ASSERT_OK_AND_ASSIGN(punkt_, PunktTokenizer::Load(dir_.path()));
  }

  // check_following(response) of `id` built from `kwargs` (JSON text).
  bool Check(const std::string& id, const std::string& kwargs,
             const std::string& response) {
    absl::StatusOr<base::Json> json = base::ParseJson(kwargs);
    EXPECT_TRUE(json.ok()) << json.status();
    absl::StatusOr<std::unique_ptr<Instruction>> inst =
        BuildInstruction(id, *json, punkt_.get());
    EXPECT_TRUE(inst.ok()) << inst.status();
    if (!inst.ok()) return false;
    return (*inst)->CheckFollowing(response);
  }

  absl::Status BuildError(const std::string& id, const std::string& kwargs) {
    absl::StatusOr<base::Json> json = base::ParseJson(kwargs);
    EXPECT_TRUE(json.ok());
    return BuildInstruction(id, *json, punkt_.get()).status();
  }

  testing::TempDir dir_;
  std::unique_ptr<PunktTokenizer> punkt_;
};

TEST_F(InstructionsTest, AllTwentyFiveIdsAreRegistered) {
  EXPECT_EQ(InstructionIds().size(), 25u);
  EXPECT_THAT(BuildError("keywords:key_sentences", "{}"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("keywords:key_sentences")));
}

TEST_F(InstructionsTest, Keywords) {
  EXPECT_TRUE(Check("keywords:existence", R"({"keywords":["Paris","tour"]})",
                    "a TOUR of paris"));
  EXPECT_FALSE(Check("keywords:existence", R"({"keywords":["Paris","tour"]})",
                     "a trip to Paris"));
  // Keywords are regexes (re.search), not literals.
  EXPECT_TRUE(
      Check("keywords:existence", R"({"keywords":["colou?r"]})", "what color"));
  const char* freq =
      R"({"keyword":" the ","frequency":3,"relation":"at least"})";
  EXPECT_TRUE(Check("keywords:frequency", freq,
                    "The theme, then THE end"));  // substrings count
  EXPECT_FALSE(Check("keywords:frequency", freq, "the end"));
  EXPECT_TRUE(Check("keywords:frequency",
                    R"({"keyword":"x","frequency":2,"relation":"less than"})",
                    "x"));
  const char* forbidden = R"({"forbidden_words":["cat","naïve"]})";
  EXPECT_TRUE(
      Check("keywords:forbidden_words", forbidden, "concatenate naïveté"));
  EXPECT_FALSE(Check("keywords:forbidden_words", forbidden, "a CAT."));
  EXPECT_FALSE(Check("keywords:forbidden_words", forbidden, "so Naïve"));
}

TEST_F(InstructionsTest, LetterFrequencyCountsLoweredCharacters) {
  const char* k =
      R"({"letter":"A","let_frequency":3,"let_relation":"at least"})";
  EXPECT_TRUE(Check("keywords:letter_frequency", k, "Aa bA"));
  EXPECT_FALSE(Check("keywords:letter_frequency", k, "Àa a"));  // À is not a
  // A non-letter argument (keys 1122/1129) counts the character itself.
  EXPECT_TRUE(
      Check("keywords:letter_frequency",
            R"({"letter":"#","let_frequency":2,"let_relation":"at least"})",
            "#a #b"));
}

TEST_F(InstructionsTest, LengthConstraints) {
  const char* sentences = R"({"num_sentences":2,"relation":"less than"})";
  EXPECT_TRUE(Check("length_constraints:number_sentences", sentences,
                    "Dr. Smith came. "));
  EXPECT_FALSE(
      Check("length_constraints:number_sentences", sentences, "One. Two."));
  const char* words = R"({"num_words":4,"relation":"at least"})";
  EXPECT_TRUE(Check("length_constraints:number_words", words,
                    "don't stop-me now"));  // 5 \w+ runs
  EXPECT_FALSE(
      Check("length_constraints:number_words", words, "¡hola, señor! ..."));
  const char* paragraphs = R"({"num_paragraphs":2})";
  EXPECT_TRUE(Check("length_constraints:number_paragraphs", paragraphs,
                    "***\nA\n***\nB\n***"));
  EXPECT_FALSE(Check("length_constraints:number_paragraphs", paragraphs,
                     "A\n***\n***\nB"));
  EXPECT_FALSE(Check("length_constraints:number_paragraphs", paragraphs,
                     "A *** B *** C"));
  const char* nth =
      R"({"num_paragraphs":3,"nth_paragraph":2,"first_word":"Hello"})";
  EXPECT_TRUE(Check("length_constraints:nth_paragraph_first_word", nth,
                    "A\n\n\"HELLO, world\n\nC\n\n"));
  EXPECT_FALSE(Check("length_constraints:nth_paragraph_first_word", nth,
                     "A\n\nHi hello\n\nC"));
  // The nth piece is taken before empty pieces are dropped.
  EXPECT_TRUE(Check("length_constraints:nth_paragraph_first_word", nth,
                    "\n\nHello\n\nB\n\nC"));
  EXPECT_FALSE(Check("length_constraints:nth_paragraph_first_word", nth,
                     "A\n\n\n\nHello\n\nC"));
}

TEST_F(InstructionsTest, DetectableContentAndFormat) {
  EXPECT_TRUE(Check("detectable_content:number_placeholders",
                    R"({"num_placeholders":2})", "[name] at [address]"));
  EXPECT_FALSE(Check("detectable_content:number_placeholders",
                     R"({"num_placeholders":2})", "[name\n]"));
  EXPECT_TRUE(Check("detectable_content:postscript",
                    R"({"postscript_marker":"P.S."})", "Hi.\n\np.s. bye"));
  EXPECT_TRUE(Check("detectable_content:postscript",
                    R"({"postscript_marker":"P.P.S"})", "x\nP. P. S done"));
  EXPECT_FALSE(Check("detectable_content:postscript",
                     R"({"postscript_marker":"P.S."})", "PS: no"));
  const char* bullets = R"({"num_bullets":3})";
  EXPECT_TRUE(Check("detectable_format:number_bullet_lists", bullets,
                    "* a\n  * b\n** c\n- d"));
  EXPECT_FALSE(
      Check("detectable_format:number_bullet_lists", bullets, "* a\n* b"));
  EXPECT_TRUE(Check("detectable_format:constrained_response", "{}",
                    "  My answer is no.  "));
  EXPECT_FALSE(Check("detectable_format:constrained_response", "{}",
                     "My answer is No."));
  const char* highlights = R"({"num_highlights":2})";
  EXPECT_TRUE(Check("detectable_format:number_highlighted_sections", highlights,
                    "*one* and *two*"));
  // "**bold**" counts once: the single-star pattern only finds the empty
  // "**" pairs, the double-star pattern finds "**bold**".
  EXPECT_FALSE(Check("detectable_format:number_highlighted_sections",
                     highlights, "**bold**"));
  EXPECT_TRUE(Check("detectable_format:number_highlighted_sections", highlights,
                    "**a** *b*"));
  EXPECT_FALSE(Check("detectable_format:number_highlighted_sections",
                     highlights, "* * and *x*"));
  const char* sections = R"({"section_spliter":"Section","num_sections":2})";
  EXPECT_TRUE(Check("detectable_format:multiple_sections", sections,
                    "Section 1\na\nSection 2\nb"));
  EXPECT_FALSE(Check("detectable_format:multiple_sections", sections,
                     "Section 1\na\nSECTION 2"));
}

TEST_F(InstructionsTest, JsonFormatFollowsPythonJsonLoads) {
  const std::string id = "detectable_format:json_format";
  EXPECT_TRUE(Check(id, "{}", "```json\n{\"a\": [1, 2.5e3, null]}\n```"));
  EXPECT_TRUE(Check(id, "{}", "```JSON\n[NaN, Infinity, -Infinity]\n```"));
  EXPECT_TRUE(Check(id, "{}", "\"just a string\""));
  EXPECT_TRUE(
      Check(id, "{}", "```\n{\"s\": \"\\ud800\"}\n```"));  // lone surrogate
  EXPECT_FALSE(Check(id, "{}", "{'a': 1}"));
  EXPECT_FALSE(Check(id, "{}", "{\"a\": 1,}"));
  EXPECT_FALSE(Check(id, "{}", "Here it is: {\"a\": 1}"));
  // Corners checked against CPython's json.loads.
  for (const char* ok : {"-0", "1E400", "{\"a\":1,\"a\":2}", "-Infinity",
                         "\"\\u00e9\"", "{\"a\" : [ ]\r\n}"}) {
    EXPECT_TRUE(Check(id, "{}", ok)) << ok;
  }
  for (const char* bad : {"\"a\tb\"", "[1] [2]", "\xef\xbb\xbf{}", "[.5]",
                          "[05]", "\"\\x41\"", "tRUE", "nan"}) {
    EXPECT_FALSE(Check(id, "{}", bad)) << bad;
  }
}

TEST_F(InstructionsTest, TitleCombinationStartEnd) {
  EXPECT_TRUE(Check("detectable_format:title", "{}", "<<Poem of Joy>>\ntext"));
  EXPECT_FALSE(Check("detectable_format:title", "{}", "<< >> and <<\n>>"));
  const std::string two = "combination:two_responses";
  EXPECT_TRUE(Check(two, "{}", "A\n******\nB"));
  EXPECT_TRUE(Check(two, "{}", "******\nA\n******\nB\n******"));
  EXPECT_FALSE(Check(two, "{}", "A\n******\n A "));
  EXPECT_FALSE(Check(two, "{}", "A\n******\n\n******\nB"));
  const char* repeat = R"({"prompt_to_repeat":" Write a Poem. "})";
  EXPECT_TRUE(
      Check("combination:repeat_prompt", repeat, "\nwrite a poem. Roses..."));
  EXPECT_FALSE(
      Check("combination:repeat_prompt", repeat, "Sure! Write a poem."));
  const char* end = R"({"end_phrase":"Any other questions?"})";
  EXPECT_TRUE(
      Check("startend:end_checker", end, "Done. ANY OTHER QUESTIONS?\"\n"));
  EXPECT_FALSE(Check("startend:end_checker", end, "Any other questions? Bye"));
  EXPECT_TRUE(Check("startend:quotation", "{}", "  \"quoted\"\n"));
  EXPECT_FALSE(Check("startend:quotation", "{}", "\""));
  EXPECT_FALSE(Check("startend:quotation", "{}", "“curly”"));
}

TEST_F(InstructionsTest, CaseAndPunctuation) {
  const char* cap = R"({"capital_frequency":2,"capital_relation":"at least"})";
  // Treebank splits "CAN'T" into "CA" and "N'T": two capital words.
  EXPECT_TRUE(
      Check("change_case:capital_word_frequency", cap, "I can't, I CAN'T."));
  EXPECT_FALSE(
      Check("change_case:capital_word_frequency", cap, "Only ONE here."));
  EXPECT_TRUE(Check(
      "change_case:english_lowercase", "{}",
      "this is a plain english sentence about the weather today, which is "
      "sunny "
      "and warm, and everyone is outside enjoying the afternoon in the park."));
  EXPECT_FALSE(Check("change_case:english_lowercase", "{}",
                     "this is Not lowercase at all."));
  EXPECT_TRUE(Check(
      "change_case:english_capital", "{}",
      "THIS IS A PLAIN ENGLISH SENTENCE ABOUT THE WEATHER TODAY, WHICH IS "
      "SUNNY "
      "AND WARM, AND EVERYONE IS OUTSIDE ENJOYING THE AFTERNOON IN THE PARK."));
  EXPECT_FALSE(
      Check("change_case:english_capital", "{}", "THIS IS NOT all caps."));
  // islower() needs a cased character, so a text without letters fails.
  EXPECT_FALSE(Check("change_case:english_lowercase", "{}",
                     "12345 67 8 9 10 1112 ... !"));
  EXPECT_TRUE(Check("punctuation:no_comma", "{}",
                    "no commas here، only Arabic ones，wide"));
  EXPECT_FALSE(Check("punctuation:no_comma", "{}", "one, two"));
}

TEST_F(InstructionsTest, ResponseLanguage) {
  const char* de = R"({"language":"de"})";
  EXPECT_TRUE(Check("language:response_language", de,
                    "Das Wetter ist heute sehr schön, und wir gehen am "
                    "Nachmittag in den Park, "
                    "um mit unseren Freunden zu spielen und Kuchen zu essen."));
  EXPECT_FALSE(Check(
      "language:response_language", de,
      "The weather is very nice today, and we are going to the park in the "
      "afternoon to play with our friends and eat some cake."));
  EXPECT_EQ(DetectLanguage("שלום לכולם, היום אנחנו הולכים לפארק עם החברים שלנו "
                           "ונאכל עוגה טעימה."),
            "he");
  // No letters at all: the detector has no features, which counts as followed.
  EXPECT_EQ(DetectLanguage("1234 ... !!!"), std::nullopt);
  EXPECT_TRUE(
      Check("language:response_language", de, "12345 67 8 9 10 1112 ... !"));
}

TEST_F(InstructionsTest, BadKwargsNameTheField) {
  EXPECT_THAT(BuildError("length_constraints:number_words",
                         R"({"num_words":"ten","relation":"at least"})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kwargs.num_words")));
  EXPECT_THAT(BuildError("length_constraints:number_words",
                         R"({"num_words":10,"relation":"about"})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kwargs.relation")));
  // Falsy values are dropped as in the reference, so 0 counts as missing.
  EXPECT_THAT(BuildError("detectable_format:number_bullet_lists",
                         R"({"num_bullets":0})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kwargs.num_bullets")));
  EXPECT_THAT(BuildError("keywords:existence", R"({"keywords":["(bad"]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kwargs.keywords")));
  // HF exports carry every key, null where unused.
  EXPECT_TRUE(BuildError("punctuation:no_comma",
                         R"({"num_words":null,"keywords":null})")
                  .ok());
}

TEST_F(InstructionsTest, EveryCheckerSurvivesHostileText) {
  // One valid kwargs object per id; model output can be anything, including
  // invalid UTF-8, so no checker may crash or hang on it.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"keywords:existence", R"({"keywords":["a"]})"},
      {"keywords:frequency",
       R"({"keyword":"a","frequency":1,"relation":"at least"})"},
      {"keywords:forbidden_words", R"({"forbidden_words":["a"]})"},
      {"keywords:letter_frequency",
       R"({"letter":"a","let_frequency":1,"let_relation":"at least"})"},
      {"language:response_language", R"({"language":"en"})"},
      {"length_constraints:number_sentences",
       R"({"num_sentences":1,"relation":"at least"})"},
      {"length_constraints:number_paragraphs", R"({"num_paragraphs":1})"},
      {"length_constraints:number_words",
       R"({"num_words":1,"relation":"at least"})"},
      {"length_constraints:nth_paragraph_first_word",
       R"({"num_paragraphs":1,"nth_paragraph":1,"first_word":"a"})"},
      {"detectable_content:number_placeholders", R"({"num_placeholders":1})"},
      {"detectable_content:postscript", R"({"postscript_marker":"P.S."})"},
      {"detectable_format:number_bullet_lists", R"({"num_bullets":1})"},
      {"detectable_format:constrained_response", "{}"},
      {"detectable_format:number_highlighted_sections",
       R"({"num_highlights":1})"},
      {"detectable_format:multiple_sections",
       R"({"section_spliter":"Section","num_sections":1})"},
      {"detectable_format:json_format", "{}"},
      {"detectable_format:title", "{}"},
      {"combination:two_responses", "{}"},
      {"combination:repeat_prompt", R"({"prompt_to_repeat":"a"})"},
      {"startend:end_checker", R"({"end_phrase":"a"})"},
      {"startend:quotation", "{}"},
      {"change_case:capital_word_frequency",
       R"({"capital_frequency":1,"capital_relation":"at least"})"},
      {"change_case:english_capital", "{}"},
      {"change_case:english_lowercase", "{}"},
      {"punctuation:no_comma", "{}"},
  };
  ASSERT_EQ(cases.size(), InstructionIds().size());
  const std::vector<std::string> texts = {"",
                                          "\n",
                                          "\xff\xfe\x80 bad \xc3",
                                          std::string(3000, '*'),
                                          "*\n*\n\n***\n\n",
                                          "\"",
                                          "<<>>",
                                          "P.S.",
                                          "[[[]]]",
                                          "Section 1 Section",
                                          "...!?...",
                                          std::string(1, '\0')};
  for (const auto& [id, kwargs] : cases) {
    absl::StatusOr<base::Json> json = base::ParseJson(kwargs);
    ASSERT_TRUE(json.ok()) << id;
    ASSERT_OK_AND_ASSIGN(auto inst, BuildInstruction(id, *json, punkt_.get()));
    for (const std::string& t : texts) {
      inst->CheckFollowing(t);
      FollowedLoose(*inst, LooseVariants(t));
      EXPECT_FALSE(FollowedStrict(*inst, "")) << id;
    }
  }
}

TEST_F(InstructionsTest, LooseVariantsInReferenceOrder) {
  std::vector<std::string> v = LooseVariants("Sure!\n*text*\nBye");
  ASSERT_EQ(v.size(), 8u);
  EXPECT_EQ(v[0], "Sure!\n*text*\nBye");
  EXPECT_EQ(v[1], "Sure!\ntext\nBye");
  EXPECT_EQ(v[2], "*text*\nBye");
  EXPECT_EQ(v[3], "Sure!\n*text*");
  EXPECT_EQ(v[4], "*text*");
  EXPECT_EQ(v[5], "text\nBye");
  EXPECT_EQ(v[6], "Sure!\ntext");
  EXPECT_EQ(v[7], "text");
  // Loose accepts the quoted middle line; strict does not.
  ASSERT_OK_AND_ASSIGN(
      auto quote,
      BuildInstruction("startend:quotation", base::Json(), punkt_.get()));
  EXPECT_FALSE(FollowedStrict(*quote, "Here:\n\"q\"\nBye"));
  EXPECT_TRUE(FollowedLoose(*quote, LooseVariants("Here:\n\"q\"\nBye")));
  EXPECT_FALSE(FollowedStrict(*quote, "  \n "));
}

}  // namespace
}  // namespace evald::tasks::ifeval
