#include "runners/native/engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace evald::runners::native::engine {
namespace {

TEST(SamplerTest, TokenLogprobIsLogSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f};
  const double z = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(TokenLogprob(logits, 0), 1.0 - z, 1e-12);
  EXPECT_NEAR(TokenLogprob(logits, 2), 3.0 - z, 1e-12);
  // Shift invariance with large logits (no overflow).
  const std::vector<float> big = {1001.0f, 1002.0f, 1003.0f};
  EXPECT_NEAR(TokenLogprob(big, 2), 3.0 - z, 1e-9);
}

TEST(SamplerTest, ArgmaxTakesTheFirstOfTies) {
  EXPECT_EQ(Argmax(std::vector<float>{0.5f, 2.0f, 2.0f, -1.0f}), 1);
}

TEST(SamplerTest, GreedyWhenTemperatureIsZero) {
  TokenRng rng(1);
  runners::SamplingParams p;
  EXPECT_EQ(SampleToken(std::vector<float>{0.1f, 0.3f, 0.2f}, p, &rng), 1);
}

TEST(SamplerTest, SameSeedSameDraws) {
  std::vector<float> logits(50);
  for (int i = 0; i < 50; ++i) logits[i] = std::sin(i * 0.7f);
  runners::SamplingParams p{
      .temperature = 0.9, .top_p = 0.95, .top_k = 0, .seed = 42};
  TokenRng a(42), b(42), c(43);
  std::vector<int32_t> sa, sb, sc;
  for (int i = 0; i < 40; ++i) {
    sa.push_back(SampleToken(logits, p, &a));
    sb.push_back(SampleToken(logits, p, &b));
    sc.push_back(SampleToken(logits, p, &c));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(SamplerTest, TopKAndTopPRestrictTheSupport) {
  const std::vector<float> logits = {0.0f, 5.0f, 4.0f, 3.0f, -2.0f};
  TokenRng rng(7);
  runners::SamplingParams k2{
      .temperature = 1.0, .top_p = 1.0, .top_k = 2, .seed = 7};
  std::map<int32_t, int> seen;
  for (int i = 0; i < 500; ++i) ++seen[SampleToken(logits, k2, &rng)];
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen.count(1) && seen.count(2));
  // p(1) = e^5 / (e^5 + e^4 + e^3 + 1 + e^-2) ~ 0.66 < 0.7, so top_p 0.7
  // keeps tokens 1 and 2.
  runners::SamplingParams p7{
      .temperature = 1.0, .top_p = 0.7, .top_k = 0, .seed = 7};
  seen.clear();
  for (int i = 0; i < 500; ++i) ++seen[SampleToken(logits, p7, &rng)];
  EXPECT_EQ(seen.size(), 2u);
  // The frequencies follow the renormalised probabilities.
  const double p1 = std::exp(5.0) / (std::exp(5.0) + std::exp(4.0));
  EXPECT_NEAR(seen[1] / 500.0, p1, 0.06);
}

}  // namespace
}  // namespace evald::runners::native::engine
