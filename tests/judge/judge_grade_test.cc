// Deterministic verdict flows of Judge::Grade through a scripted Runner: the
// judge's replies are fixed per prompt so that the retry-once and
// keep-unparsable rules can be checked exactly.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "judge/judge.h"
#include "runners/chat_prompt.h"

namespace evald::judge {
namespace {

// Replies by question: the first reply for a first attempt, the second for a
// retry (recognised by the prompt being longer than the first one seen).
class ScriptedRunner : public runners::Runner {
 public:
  std::map<std::string, std::vector<std::string>>
      replies;  // question -> replies
  int generate_calls = 0;
  int requests_seen = 0;

  std::string model_name() const override { return "scripted"; }
  int max_context() const override { return 4096; }
  absl::Status Loglikelihood(
      absl::Span<const runners::LoglikelihoodRequest>,
      const runners::CallOptions&,
      const runners::ResultCallback<runners::LoglikelihoodResult>&) override {
    return absl::UnimplementedError("scripted runner: no loglikelihood");
  }
  absl::Status Generate(absl::Span<const runners::GenerateRequest> requests,
                        const runners::CallOptions&,
                        const runners::ResultCallback<runners::GenerateResult>&
                            on_result) override {
    ++generate_calls;
    for (size_t i = 0; i < requests.size(); ++i) {
      ++requests_seen;
      runners::GenerateResult r;
      // Chat messages rendered with this runner's template.
      const std::string prompt =
          runners::RenderedPrompt(*this, requests[i]).value();
      for (auto& [question, texts] : replies) {
        if (absl::StrContains(prompt, question) && !texts.empty()) {
          r.text = texts.front();
          texts.erase(texts.begin());
          break;
        }
      }
      on_result(i, r);
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ApplyChatTemplate(
      absl::Span<const runners::ChatMessage> messages, bool) const override {
    std::string out;
    for (const auto& m : messages) out += "<" + m.role + ">" + m.content + "\n";
    return out;
  }
  runners::RunnerStats stats() const override { return {}; }
};

TEST(JudgeGradeTest, RetriesOnceThenKeepsUnparsable) {
  ScriptedRunner runner;
  runner.replies["Q-good"] = {"fine answer. Rating: [[8]]"};
  runner.replies["Q-retry"] = {"I think it is good", "Rating: [[3]]"};
  runner.replies["Q-never"] = {"no verdict", "still none [[99]]",
                               "[[5]] must not be asked"};
  Judge judge(&runner, DefaultTemplate(Mode::kSingle));
  std::vector<JudgeItem> items = {{"Q-good", "a1", "", ""},
                                  {"Q-retry", "a2", "", ""},
                                  {"Q-never", "a3", "", ""}};
  absl::StatusOr<std::vector<JudgeRecord>> records = judge.Grade(items);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);

  EXPECT_TRUE((*records)[0].parsed);
  EXPECT_EQ((*records)[0].rating, 8.0);
  EXPECT_EQ((*records)[0].raw.size(), 1u);

  EXPECT_TRUE((*records)[1].parsed);
  EXPECT_EQ((*records)[1].rating, 3.0);
  EXPECT_EQ((*records)[1].raw.size(), 2u);

  // Unparsable after exactly one retry: kept, with both raw replies.
  EXPECT_FALSE((*records)[2].parsed);
  ASSERT_EQ((*records)[2].raw.size(), 2u);
  EXPECT_EQ((*records)[2].raw[1], "still none [[99]]");
  EXPECT_EQ(runner.replies["Q-never"].size(),
            1u);  // third reply never asked for

  EXPECT_EQ(runner.generate_calls, 2);  // one batch, one retry batch
  EXPECT_EQ(runner.requests_seen, 5);
  // The prompt sent is recorded and carries the question and the answer.
  EXPECT_TRUE(absl::StrContains((*records)[0].prompt, "Q-good"));
  EXPECT_TRUE(absl::StrContains((*records)[0].prompt, "a1"));
}

TEST(JudgeGradeTest, PairwiseAndReferenceModes) {
  ScriptedRunner runner;
  runner.replies["Q1"] = {"[[B]]"};
  Judge pair(&runner, DefaultTemplate(Mode::kPairwise));
  auto p = pair.Grade(std::vector<JudgeItem>{{"Q1", "first", "second", ""}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)[0].pair, PairVerdict::kB);
  EXPECT_TRUE(absl::StrContains((*p)[0].prompt, "first"));
  EXPECT_TRUE(absl::StrContains((*p)[0].prompt, "second"));

  runner.replies["Q2"] = {"[[INCORRECT]]"};
  Judge ref(&runner, DefaultTemplate(Mode::kReference));
  auto r = ref.Grade(std::vector<JudgeItem>{{"Q2", "42", "", "41"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].correct, false);
  EXPECT_TRUE(absl::StrContains((*r)[0].prompt, "41"));
}

// The shipped template files are what DefaultTemplate uses, and a copy of
// one (what `evalctl judge template` prints) loads as a user template.
TEST(JudgeTemplateTest, BuiltinFilesAreTheDefaultsAndLoadAsUserTemplates) {
  const std::pair<const char*, Mode> kBuiltins[] = {
      {"single", Mode::kSingle},
      {"pairwise", Mode::kPairwise},
      {"reference", Mode::kReference}};
  for (const auto& [name, mode] : kBuiltins) {
    absl::StatusOr<std::string> text = BuiltinTemplateText(name);
    ASSERT_TRUE(text.ok()) << text.status();
    absl::StatusOr<JudgeTemplate> copy = ParseTemplate("my.yaml", *text);
    ASSERT_TRUE(copy.ok()) << copy.status();
    EXPECT_EQ(copy->mode, mode);
    EXPECT_EQ(copy->prompt, DefaultTemplate(mode).prompt) << name;
    EXPECT_EQ(copy->system, DefaultTemplate(mode).system) << name;
    EXPECT_EQ(DefaultTemplate(mode).name, name);
  }
  EXPECT_EQ(BuiltinTemplateText("mtbench").status().code(),
            absl::StatusCode::kNotFound);
  // A template whose prompt lacks a placeholder its mode needs is refused.
  absl::StatusOr<JudgeTemplate> bad = ParseTemplate(
      "bad.yaml", "mode: pairwise\nprompt: \"{question} {answer_a}\"\n");
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "{answer_b}"));
  // Found by fuzz/judge_fuzzer: a complex (null) key once threw out of the
  // parser.
  absl::StatusOr<JudgeTemplate> null_key =
      ParseTemplate("k.yaml", "\n\n?\n\n: siomftr}\"\n");
  EXPECT_FALSE(null_key.ok());
  EXPECT_TRUE(absl::StrContains(null_key.status().message(), "k.yaml"));
}

}  // namespace
}  // namespace evald::judge
