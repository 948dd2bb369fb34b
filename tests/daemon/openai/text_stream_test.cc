#include "daemon/openai/text_stream.h"

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace evald::daemon::openai {
namespace {

TEST(StableTextLengthTest, HoldsBackWhatMayStillChange) {
  EXPECT_EQ(StableTextLength("hello", {}), 5u);
  EXPECT_EQ(StableTextLength("", {}), 0u);
  // A split character, raw or as a lossy decoder shows it.
  EXPECT_EQ(StableTextLength("abc\xE2\x82", {}), 3u);
  EXPECT_EQ(StableTextLength("abc\xF0\x9F\x91", {}), 3u);
  EXPECT_EQ(StableTextLength("abc\xE2\x82\xAC", {}), 6u);
  EXPECT_EQ(StableTextLength("abc\xEF\xBF\xBD\xEF\xBF\xBD", {}), 3u);
  // A tail that may begin a stop string, and a whole one.
  const std::vector<std::string> stop = {"END", "\n\n"};
  EXPECT_EQ(StableTextLength("abcEN", stop), 3u);
  EXPECT_EQ(StableTextLength("abc\n", stop), 3u);
  EXPECT_EQ(StableTextLength("abENDcd", stop), 2u);
  EXPECT_EQ(StableTextLength("abcENx", stop), 6u);
  // A short space-led tail that space clean-up could rewrite.
  EXPECT_EQ(StableTextLength("do n", {}), 2u);
  EXPECT_EQ(StableTextLength("word ", {}), 4u);
  EXPECT_EQ(StableTextLength("I am", {}), 1u);
  EXPECT_EQ(StableTextLength("I amx", {}), 5u);
}

// A simulated generation: the text grows by random byte runs (splitting
// characters and stop strings anywhere); the deltas must add up to the
// final text cut before the first stop string.
TEST(TextStreamTest, DeltasAddUpToTheFinalText) {
  std::mt19937_64 rng(11);
  const std::string alphabet[] = {
      "a",  "b",  " ", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x91\x8D",
      "\n", "ST", "OP"};
  for (int round = 0; round < 300; ++round) {
    std::string full;
    while (full.size() < 80) full += alphabet[rng() % 9];
    const std::vector<std::string> stop = {"STOP", "\n\n"};
    size_t cut = full.size();
    for (const std::string& s : stop) cut = std::min(cut, full.find(s));
    TextStream stream(stop);
    std::vector<std::string> updates;
    size_t at = 0;
    while (at < full.size()) {
      at = std::min(full.size(), at + 1 + rng() % 5);
      if (full.substr(0, at).find("STOP") != std::string::npos ||
          full.substr(0, at).find("\n\n") != std::string::npos) {
        break;  // the engine ends at the token completing a stop string
      }
      updates.push_back(full.substr(0, at));
    }
    runners::GenerateResult result;
    result.text = full.substr(0, cut);
    std::thread producer([&] {
      for (const std::string& u : updates) stream.Update(u);
      stream.Finish(result);
    });
    std::string got;
    while (true) {
      TextStream::Delta d = stream.Next();
      got += d.text;
      if (d.finished) break;
    }
    producer.join();
    EXPECT_EQ(got, result.text) << round;
    EXPECT_FALSE(stream.diverged());
    ASSERT_TRUE(stream.result().ok());
  }
}

// Each update that adds stable text is a delta of its own, however late the
// consumer reads: one chunk per token, whatever the timing.
TEST(TextStreamTest, KeepsOneDeltaPerUpdateForASlowConsumer) {
  TextStream stream({"STOP"});
  for (const char* text : {"a", "ab", "abS", "abST", "abSTx", "abSTxy"}) {
    stream.Update(text);
  }
  runners::GenerateResult result;
  result.text = "abSTxyz";
  stream.Finish(result);
  std::vector<std::string> got;
  while (true) {
    TextStream::Delta d = stream.Next();
    got.push_back(d.text);
    if (d.finished) break;
  }
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "STx", "y", "z"}));
}

TEST(TextStreamTest, ReportsAFinalTextThatDoesNotContinueTheSentOne) {
  TextStream stream({});
  stream.Update("hello world");
  EXPECT_EQ(stream.Next().text, "hello world");
  runners::GenerateResult result;
  result.text = "goodbye";
  stream.Finish(result);
  TextStream::Delta d = stream.Next();
  EXPECT_TRUE(d.finished);
  EXPECT_EQ(d.text, "");
  EXPECT_TRUE(stream.diverged());
}

TEST(TextStreamTest, PassesErrorsThrough) {
  TextStream stream({});
  stream.Finish(absl::InvalidArgumentError("prompt too long"));
  TextStream::Delta d = stream.Next();
  EXPECT_TRUE(d.finished);
  EXPECT_EQ(stream.result().status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace evald::daemon::openai
