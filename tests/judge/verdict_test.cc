#include "judge/verdict.h"

#include <cmath>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "judge/judge.h"

namespace evald::judge {
namespace {

TEST(ParseRatingTest, Table) {
  struct Case {
    const char* text;
    std::optional<double> want;
  };
  const Case cases[] = {
      {"Rating: [[7]]", 7.0},
      {"[[8.5]]", 8.5},
      {"[[1]]", 1.0},
      {"[[10]]", 10.0},
      {"[[10.0]]", 10.0},
      {"[[0]]", std::nullopt},   // below range: not well-formed
      {"[[11]]", std::nullopt},  // above range
      {"[[10.5]]", std::nullopt},
      {"[[-3]]", std::nullopt},  // signs are not plain numerals
      {"[[7/10]]", std::nullopt},
      {"[[1e1]]", std::nullopt},
      {"[[nan]]", std::nullopt},
      {"[[7.]]", std::nullopt},
      {"[[.5]]", std::nullopt},
      {"[7]", std::nullopt},
      {"7", std::nullopt},
      {"", std::nullopt},
      {"[[5", std::nullopt},
      {"[[3]] then on reflection [[6]]", 6.0},  // the last one wins
      {"[[6]] but not [[42]]", 6.0},  // a later malformed one is skipped
      {"[[[9]]]", 9.0},               // "[[9]]" occurs in the text
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParseRating(c.text), c.want) << c.text;
  }
}

TEST(ParsePairwiseTest, Table) {
  EXPECT_EQ(ParsePairwise("verdict: [[A]]"), PairVerdict::kA);
  EXPECT_EQ(ParsePairwise("[[B]]"), PairVerdict::kB);
  EXPECT_EQ(ParsePairwise("[[C]]"), PairVerdict::kTie);
  EXPECT_EQ(ParsePairwise("[[A]] no wait [[B]]"), PairVerdict::kB);
  EXPECT_EQ(ParsePairwise("[[B]] not [[D]]"), PairVerdict::kB);
  EXPECT_EQ(ParsePairwise("[[a]]"), std::nullopt);
  EXPECT_EQ(ParsePairwise("[[D]]"), std::nullopt);
  EXPECT_EQ(ParsePairwise("[[AB]]"), std::nullopt);
  EXPECT_EQ(ParsePairwise("A is better"), std::nullopt);
  EXPECT_EQ(ParsePairwise("[[7]]"), std::nullopt);
}

TEST(ParseCorrectnessTest, Table) {
  EXPECT_EQ(ParseCorrectness("[[CORRECT]]"), true);
  EXPECT_EQ(ParseCorrectness("[[INCORRECT]]"), false);
  EXPECT_EQ(ParseCorrectness("[[CORRECT]] ... [[INCORRECT]]"), false);
  EXPECT_EQ(ParseCorrectness("[[INCORRECT]] ... [[CORRECT]]"), true);
  EXPECT_EQ(ParseCorrectness("[[correct]]"), std::nullopt);
  EXPECT_EQ(ParseCorrectness("CORRECT"), std::nullopt);
}

// Independent oracle for the documented rating rule, built on std::regex so
// it shares no code with the parser: every occurrence (overlaps included) of
// "[[" digits ["." digits] "]]" whose value is in [1, 10]; the last wins.
std::optional<double> OracleRating(const std::string& s) {
  static const std::regex kToken(R"(^\[\[([0-9]+(\.[0-9]+)?)\]\])");
  std::optional<double> last;
  for (size_t i = 0; i < s.size(); ++i) {
    std::smatch m;
    std::string rest = s.substr(i);
    if (!std::regex_search(rest, m, kToken)) continue;
    const std::string num = m[1].str();
    if (num.size() > 8) continue;
    double v = std::stod(num);
    if (v >= 1 && v <= 10) last = v;
  }
  return last;
}

TEST(ParseRatingTest, SeededFuzzAgainstOracle) {
  std::mt19937 rng(20261122);
  // Fragments rather than single characters, so that well-formed tokens,
  // near misses and nesting all occur often.
  const std::vector<std::string> fragments = {"[[", "]]", "[",  "]",  " ", "1",
                                              "7",  "10", "0",  "11", ".", "5",
                                              "A",  "x",  "\n", "-"};
  int parsed = 0;
  const int kIters = 20000;
  for (int iter = 0; iter < kIters; ++iter) {
    int len = std::uniform_int_distribution<int>(0, 16)(rng);
    std::string s;
    for (int k = 0; k < len; ++k) {
      s += fragments[std::uniform_int_distribution<size_t>(
          0, fragments.size() - 1)(rng)];
    }
    std::optional<double> got = ParseRating(s);
    ASSERT_EQ(got, OracleRating(s)) << "input: '" << s << "'";
    if (got.has_value()) {
      ++parsed;
      ASSERT_GE(*got, 1.0);
      ASSERT_LE(*got, 10.0);
    }
    // The other formats must cope with the same garbage.
    (void)ParsePairwise(s);
    (void)ParseCorrectness(s);
  }
  // The alphabet makes both outcomes common; a parser that never (or
  // always) parses fails here.
  EXPECT_GT(parsed, 50);
  EXPECT_LT(parsed, kIters);
}

TEST(CombineOrdersTest, PositionSwap) {
  using V = PairVerdict;
  // Candidate shown first wins as A, then wins again when shown as B.
  EXPECT_EQ(CombineOrders(V::kA, V::kB), Outcome::kWin);
  EXPECT_EQ(CombineOrders(V::kB, V::kA), Outcome::kLoss);
  // A judge that always prefers position A disagrees with itself: a tie.
  EXPECT_EQ(CombineOrders(V::kA, V::kA), Outcome::kTie);
  EXPECT_EQ(CombineOrders(V::kB, V::kB), Outcome::kTie);
  EXPECT_EQ(CombineOrders(V::kTie, V::kTie), Outcome::kTie);
  EXPECT_EQ(CombineOrders(V::kA, V::kTie), Outcome::kTie);
}

TEST(WinRateTest, WilsonWithTiesCountedHalf) {
  // 8 wins of 10: the textbook Wilson 95% interval is [0.4902, 0.9433].
  std::vector<Outcome> eight(8, Outcome::kWin);
  eight.insert(eight.end(), 2, Outcome::kLoss);
  RateInterval r = WinRate(eight);
  EXPECT_EQ(r.n, 10);
  EXPECT_DOUBLE_EQ(r.rate, 0.8);
  EXPECT_NEAR(r.low, 0.4902, 1e-4);
  EXPECT_NEAR(r.high, 0.9433, 1e-4);

  // Two ties score like one win and one loss.
  RateInterval ties = WinRate(std::vector<Outcome>{
      Outcome::kWin, Outcome::kTie, Outcome::kTie, Outcome::kLoss});
  EXPECT_DOUBLE_EQ(ties.rate, 0.5);
  EXPECT_LT(ties.low, 0.5);
  EXPECT_GT(ties.high, 0.5);

  RateInterval empty = WinRate(std::vector<Outcome>{});
  EXPECT_EQ(empty.n, 0);
  EXPECT_EQ(empty.rate, 0.0);
}

}  // namespace
}  // namespace evald::judge
