#include "store/keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "tests/testing/status_matchers.h"

namespace evald::store::keys {
namespace {

using ::evald::testing::StatusIs;

absl::Time Utc(int y, int mo, int d, int h, int mi, int s) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s),
                         absl::UTCTimeZone());
}

TEST(RunIdTest, FormatAndParseRoundTrip) {
  const absl::Time t = Utc(2026, 11, 22, 8, 45, 12);
  EXPECT_EQ(FormatRunId(t, 7), "r20261122T084512Z-0007");
  // Sub-second parts are dropped, not rounded.
  EXPECT_EQ(FormatRunId(t + absl::Milliseconds(999), 0),
            "r20261122T084512Z-0000");
  auto parsed = ParseRunId("r20261122T084512Z-0007");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->time, t);
  EXPECT_EQ(parsed->sequence, 7);
}

TEST(RunIdTest, InstanceSuffixRoundTripsAndOldIdsStillParse) {
  const absl::Time t = Utc(2026, 11, 22, 8, 45, 12);
  EXPECT_EQ(FormatRunId(t, 7, "k3q9x2ma"), "r20261122T084512Z-0007-k3q9x2ma");
  auto parsed = ParseRunId("r20261122T084512Z-0007-k3q9x2ma");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->time, t);
  EXPECT_EQ(parsed->sequence, 7);
  EXPECT_EQ(parsed->instance, "k3q9x2ma");
  auto old = ParseRunId("r20261122T084512Z-0007");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->instance, "");
  // Old and new ids of one second sort by sequence first.
  EXPECT_LT(std::string("r20261122T084512Z-0007"),
            FormatRunId(t, 7, "aaaaaaaa"));
  EXPECT_LT(FormatRunId(t, 7, "zzzzzzzz"), FormatRunId(t, 8, "aaaaaaaa"));
}

TEST(RunIdTest, NewInstanceIdsAreValidAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string id = NewInstanceId();
    EXPECT_TRUE(IsInstanceId(id)) << id;
    EXPECT_EQ(
        ParseRunId(FormatRunId(Utc(2026, 1, 1, 0, 0, 0), 0, id))->instance, id);
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);  // 40 random bits: a repeat means no entropy
}

TEST(RunIdTest, ParseRejectsMalformedIds) {
  for (const char* bad :
       {"", "r20261122T084512Z-007", "x20261122T084512Z-0007",
        "r20261122T084512Z+0007", "r20261322T084512Z-0007",
        "r20261122T084512Z-00a7", "r20261122T084512Z-00070",
        "r20261122T084512Z-0007-", "r20261122T084512Z-0007-k3q9x2m",
        "r20261122T084512Z-0007_k3q9x2ma", "r20261122T084512Z-0007-K3Q9X2MA",
        "r20261122T084512Z-0007-k3q9x2ma0"}) {
    EXPECT_FALSE(ParseRunId(bad).has_value()) << bad;
  }
}

TEST(RunIdTest, StringOrderIsTimeOrder) {
  // Random (time, sequence) pairs; sorting the ids as strings must give the
  // same order as sorting the pairs numerically.
  std::mt19937_64 rng(42);
  std::vector<std::pair<int64_t, int>> pairs;
  for (int i = 0; i < 2000; ++i) {
    // 1970..2200, including times that differ only in a low digit.
    int64_t secs = static_cast<int64_t>(rng() % 7'258'118'400ULL);
    pairs.emplace_back(secs, static_cast<int>(rng() % (kMaxRunIdSequence + 1)));
  }
  std::vector<std::string> ids;
  for (const auto& [secs, seq] : pairs)
    ids.push_back(FormatRunId(absl::FromUnixSeconds(secs), seq));
  std::sort(pairs.begin(), pairs.end());
  std::sort(ids.begin(), ids.end());
  for (size_t i = 0; i < pairs.size(); ++i) {
    auto parsed = ParseRunId(ids[i]);
    ASSERT_TRUE(parsed.has_value()) << ids[i];
    EXPECT_EQ(absl::ToUnixSeconds(parsed->time), pairs[i].first) << ids[i];
    EXPECT_EQ(parsed->sequence, pairs[i].second) << ids[i];
  }
}

TEST(SampleKeyTest, DocIndicesSortNumerically) {
  std::vector<uint64_t> indices = {300, 2, 10, 0, 256, 1ULL << 40, 255, 1};
  std::vector<std::string> keys;
  for (uint64_t i : indices) keys.push_back(SampleKey("r1", "gsm8k", i));
  std::sort(keys.begin(), keys.end());
  std::sort(indices.begin(), indices.end());
  const std::string prefix = SamplePrefix("r1", "gsm8k");
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(DocIndexFromSampleKey(prefix, keys[i]), indices[i]);
  }
}

TEST(SampleKeyTest, TaskPrefixesDoNotOverlap) {
  // "mmlu" must not match the keys of "mmlu/astronomy" or "mmlu_pro", and a
  // run id must not match a longer run id.
  const std::string prefix = SamplePrefix("r1", "mmlu");
  EXPECT_TRUE(SampleKey("r1", "mmlu", 3).starts_with(prefix));
  EXPECT_FALSE(SampleKey("r1", "mmlu/astronomy", 3).starts_with(prefix));
  EXPECT_FALSE(SampleKey("r1", "mmlu_pro", 3).starts_with(prefix));
  EXPECT_FALSE(SampleKey("r10", "mmlu", 3).starts_with(prefix));
  EXPECT_FALSE(ScoresKey("r10", "mmlu").starts_with(RunPrefix("r1")));
  EXPECT_TRUE(ScoresKey("r1", "mmlu").starts_with(RunPrefix("r1")));
  EXPECT_FALSE(ProgressKey("r10", "mmlu").starts_with(ProgressPrefix("r1")));
  EXPECT_EQ(DocIndexFromSampleKey(prefix, SampleKey("r1", "mmlu/a", 3)),
            std::nullopt);
}

TEST(QueueKeyTest, HigherPriorityFirstThenFifo) {
  std::mt19937 rng(7);
  std::vector<std::tuple<int32_t, uint64_t>> entries;
  const int32_t priorities[] = {INT32_MIN, -100, -1, 0, 1, 2, 100, INT32_MAX};
  for (uint64_t seq = 0; seq < 500; ++seq) {
    entries.emplace_back(priorities[rng() % 8],
                         seq * 1'000'003 % 65'537 + (seq << 20));
  }
  std::vector<std::pair<std::string, size_t>> keyed;
  for (size_t i = 0; i < entries.size(); ++i) {
    keyed.emplace_back(
        QueueKey(std::get<0>(entries[i]), std::get<1>(entries[i])), i);
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::tuple<int32_t, uint64_t>> expected = entries;
  std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
    if (std::get<0>(a) != std::get<0>(b))
      return std::get<0>(a) > std::get<0>(b);
    return std::get<1>(a) < std::get<1>(b);
  });
  for (size_t i = 0; i < keyed.size(); ++i) {
    EXPECT_EQ(entries[keyed[i].second], expected[i]) << i;
  }
}

TEST(ValidateNameTest, RejectsEmptyAndNul) {
  EXPECT_OK(ValidateName("task name", "mmlu/astronomy"));
  EXPECT_THAT(ValidateName("task name", ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("task name")));
  EXPECT_THAT(ValidateName("run id", std::string("a\0b", 3)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("NUL")));
}

}  // namespace
}  // namespace evald::store::keys
