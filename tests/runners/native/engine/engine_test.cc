#include "runners/native/engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "runners/native/engine/sampler.h"
#include "runners/native/engine/step_turns.h"
#include "tests/runners/native/engine/collector.h"
#include "tests/runners/native/engine/toy_model.h"
#include "tests/testing/status_matchers.h"

namespace evald::runners::native::engine {
namespace {

using ::evald::testing::StatusIs;
using testing::ByteTokenizer;
using testing::Collector;
using testing::ToyModel;

std::vector<int32_t> Seq(int header, int header_len, int tail, int tail_len) {
  std::vector<int32_t> t;
  for (int i = 0; i < header_len; ++i) t.push_back((header * 31 + i * 7) % 250);
  for (int i = 0; i < tail_len; ++i)
    t.push_back((tail * 17 + i * 13 + 5) % 250);
  return t;
}

// Score requests: MMLU-like, the last 4 tokens of each sequence scored.
std::vector<ScoreRequest> MmluLike(int subjects, int questions) {
  std::vector<ScoreRequest> out;
  for (int q = 0; q < questions; ++q) {
    for (int s = 0; s < subjects; ++s) {
      ScoreRequest r;
      r.tokens = Seq(s + 1, 150, 100 * s + q, 37);
      for (int j = 0; j < 4; ++j) {
        r.targets.push_back(
            {static_cast<int>(r.tokens.size()) - 4 + j, (q + j) % 250});
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::vector<absl::StatusOr<ScoreOutput>> RunScores(
    Engine* engine, const std::vector<ScoreRequest>& reqs) {
  Collector<ScoreOutput> c(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_OK(engine->SubmitScore(reqs[i], c.For(i)));
  }
  return c.Wait();
}

EngineOptions Options(int blocks = 512, bool cache = true, int budget = 256) {
  EngineOptions o;
  o.num_kv_blocks = blocks;
  o.prefix_cache = cache;
  o.max_batch_tokens = budget;
  o.model_id = "toy";
  return o;
}

TEST(EngineTest, ScoresEqualARecomputeBitForBitAndReadTheCache) {
  ToyModel model;
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::Create(&model, nullptr, Options()));
  const auto reqs = MmluLike(3, 5);
  const auto got = RunScores(engine.get(), reqs);
  int64_t cached = 0, prompt = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_OK(got[i].status());
    for (size_t t = 0; t < reqs[i].targets.size(); ++t) {
      const ScoreTarget& tg = reqs[i].targets[t];
      std::vector<int32_t> prefix(reqs[i].tokens.begin(),
                                  reqs[i].tokens.begin() + tg.row + 1);
      const std::vector<float> logits = model.ReferenceLogits(prefix);
      EXPECT_EQ(got[i]->logprobs[t], TokenLogprob(logits, tg.token))
          << i << " " << t;
      EXPECT_EQ(got[i]->is_greedy[t], Argmax(logits) == tg.token);
    }
    cached += got[i]->cached_tokens;
    prompt += got[i]->prompt_tokens;
  }
  // Each subject's 150-token header has 9 full blocks = 144 tokens; 12 of
  // the 15 requests follow a leader and read them.
  EXPECT_EQ(cached, 12 * 144);
  EXPECT_EQ(model.forwarded_tokens(), prompt - cached);
  const EngineStats s = engine->stats();
  EXPECT_EQ(s.prompt_tokens, prompt);
  EXPECT_EQ(s.cached_prompt_tokens, cached);
  EXPECT_LE(model.max_step_tokens(), 256);
}

TEST(EngineTest, EqualBlocksAfterDifferentPrefixesAreNotShared) {
  ToyModel model;
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::Create(&model, nullptr, Options()));
  // Blocks of 16: A = [x, y, t], C = [z, w, t], then B = [z, y, t]. B shares
  // block 0 with C and block 1's tokens with A, but only block 0 is a prefix
  // it may reuse.
  const std::vector<int32_t> x = Seq(1, 16, 0, 0), y = Seq(2, 16, 0, 0),
                             z = Seq(3, 16, 0, 0), w = Seq(4, 16, 0, 0),
                             t = Seq(5, 8, 0, 0);
  auto cat = [](std::vector<std::vector<int32_t>> parts) {
    std::vector<int32_t> out;
    for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  };
  std::vector<ScoreRequest> first(2), second(1);
  first[0].tokens = cat({x, y, t});
  first[1].tokens = cat({z, w, t});
  second[0].tokens = cat({z, y, t});
  for (auto* r : {&first[0], &first[1], &second[0]}) r->targets = {{39, 3}};
  for (const auto& g : RunScores(engine.get(), first)) ASSERT_OK(g.status());
  const auto got = RunScores(engine.get(), second);
  ASSERT_OK(got[0].status());
  EXPECT_EQ(got[0]->cached_tokens, 16);
  EXPECT_EQ(got[0]->logprobs[0],
            TokenLogprob(model.ReferenceLogits(second[0].tokens), 3));
}

TEST(EngineTest, ScoredPositionsInsideACachedPrefixAreRecomputed) {
  ToyModel model;
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::Create(&model, nullptr, Options()));
  // A 60-token sequence scored at rows 5 and 40; the second run finds all of
  // its full blocks cached but must still produce those rows.
  std::vector<ScoreRequest> reqs(1);
  reqs[0].tokens = Seq(9, 60, 0, 0);
  reqs[0].targets = {{5, 17}, {40, 18}};
  for (int run = 0; run < 2; ++run) {
    const auto got = RunScores(engine.get(), reqs);
    ASSERT_OK(got[0].status());
    for (int t = 0; t < 2; ++t) {
      const ScoreTarget& tg = reqs[0].targets[t];
      std::vector<int32_t> prefix(reqs[0].tokens.begin(),
                                  reqs[0].tokens.begin() + tg.row + 1);
      EXPECT_EQ(got[0]->logprobs[t],
                TokenLogprob(model.ReferenceLogits(prefix), tg.token))
          << "run " << run << " target " << t;
    }
    EXPECT_EQ(got[0]->cached_tokens, 0)
        << "run " << run;  // row 5 lies in block 0
  }
}

TEST(EngineTest, CacheOffGivesTheSameScoresAndComputesEveryToken) {
  const auto reqs = MmluLike(2, 4);
  ToyModel on_model, off_model;
  ASSERT_OK_AND_ASSIGN(
      auto on, Engine::Create(&on_model, nullptr, Options(512, true, 100)));
  ASSERT_OK_AND_ASSIGN(
      auto off, Engine::Create(&off_model, nullptr, Options(512, false, 100)));
  const auto a = RunScores(on.get(), reqs);
  const auto b = RunScores(off.get(), reqs);
  int64_t total = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_OK(a[i].status());
    ASSERT_OK(b[i].status());
    EXPECT_EQ(a[i]->logprobs, b[i]->logprobs);
    EXPECT_EQ(b[i]->cached_tokens, 0);
    total += reqs[i].tokens.size();
  }
  EXPECT_EQ(off_model.forwarded_tokens(), total);
  EXPECT_LT(on_model.forwarded_tokens(), total / 2);
}

// Greedy continuation computed from ReferenceLogits alone.
std::vector<int32_t> ReferenceGreedy(const ToyModel& model,
                                     std::vector<int32_t> tokens, int n) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    const int32_t t = Argmax(model.ReferenceLogits(tokens));
    out.push_back(t);
    tokens.push_back(t);
  }
  return out;
}

absl::StatusOr<runners::GenerateResult> GenerateOne(Engine* engine,
                                                    GenerateTokensRequest r) {
  Collector<runners::GenerateResult> c(1);
  absl::Status s = engine->SubmitGenerate(std::move(r), c.For(0));
  if (!s.ok()) return s;
  return c.Wait()[0];
}

TEST(EngineTest, GreedyGenerationMatchesReferenceAndHonoursLimits) {
  ToyModel model(/*vocab=*/258);
  ByteTokenizer tok;
  ASSERT_OK_AND_ASSIGN(auto engine,
                       Engine::Create(&model, &tok, Options(64, true, 16)));
  const std::vector<int32_t> prompt = Seq(3, 40, 1, 5);
  const std::vector<int32_t> want = ReferenceGreedy(model, prompt, 20);

  GenerateTokensRequest r;
  r.prompt = prompt;
  r.max_new_tokens = 20;
  ASSERT_OK_AND_ASSIGN(runners::GenerateResult full,
                       GenerateOne(engine.get(), r));
  EXPECT_EQ(full.token_ids, want);
  EXPECT_EQ(full.finish_reason, runners::FinishReason::kLength);
  EXPECT_EQ(full.prompt_tokens, 45);
  EXPECT_EQ(full.text, tok.Decode(want, true));

  // EOS: declare the 6th generated token an end-of-sequence id.
  r.eos_ids = {want[5]};
  const size_t first =
      std::find(want.begin(), want.end(), want[5]) - want.begin();
  ASSERT_OK_AND_ASSIGN(runners::GenerateResult eos,
                       GenerateOne(engine.get(), r));
  EXPECT_EQ(eos.finish_reason, runners::FinishReason::kEos);
  EXPECT_EQ(eos.token_ids,
            std::vector<int32_t>(want.begin(), want.begin() + first + 1));

  // Stop string: two bytes of the reference text, cut before the match.
  r.eos_ids.clear();
  const std::string text = tok.Decode(want, true);
  ASSERT_GE(text.size(), 10u);
  const std::string stop = text.substr(7, 2);
  r.stop = {"never-there", stop};
  ASSERT_OK_AND_ASSIGN(runners::GenerateResult stopped,
                       GenerateOne(engine.get(), r));
  EXPECT_EQ(stopped.finish_reason, runners::FinishReason::kStop);
  EXPECT_EQ(stopped.text, text.substr(0, text.find(stop)));
  EXPECT_LE(stopped.token_ids.size(), 9u);

  // Generation stops at the context window.
  ToyModel short_model(258, /*max_position=*/50);
  ASSERT_OK_AND_ASSIGN(auto short_engine,
                       Engine::Create(&short_model, &tok, Options(64)));
  r.stop.clear();
  ASSERT_OK_AND_ASSIGN(runners::GenerateResult capped,
                       GenerateOne(short_engine.get(), r));
  EXPECT_EQ(capped.token_ids.size(), 5u);
  EXPECT_EQ(capped.finish_reason, runners::FinishReason::kLength);
}

TEST(EngineTest, SampledTextDependsOnSeedNotOnBatchOrPoolPressure) {
  ToyModel model(258);
  ByteTokenizer tok;
  GenerateTokensRequest r;
  r.prompt = Seq(5, 30, 2, 3);
  r.max_new_tokens = 40;
  r.sampling = {.temperature = 1.5, .top_p = 0.9, .top_k = 50, .seed = 1234};

  ASSERT_OK_AND_ASSIGN(auto alone,
                       Engine::Create(&model, &tok, Options(256, true, 64)));
  ASSERT_OK_AND_ASSIGN(runners::GenerateResult solo,
                       GenerateOne(alone.get(), r));

  // The same request among 24 others in a pool small enough to preempt.
  ToyModel model2(258);
  ASSERT_OK_AND_ASSIGN(auto busy,
                       Engine::Create(&model2, &tok, Options(20, true, 64)));
  Collector<runners::GenerateResult> c(25);
  for (int i = 0; i < 25; ++i) {
    GenerateTokensRequest other = r;
    if (i != 12) {
      other.prompt = Seq(5, 30, 100 + i, 3);
      other.sampling.seed = i;
    }
    ASSERT_OK(busy->SubmitGenerate(other, c.For(i)));
  }
  auto results = c.Wait();
  for (auto& res : results) ASSERT_OK(res.status());
  EXPECT_EQ(results[12]->token_ids, solo.token_ids);
  EXPECT_EQ(results[12]->text, solo.text);
  EXPECT_GT(busy->stats().preemptions, 0);
  // Another seed gives another text.
  r.sampling.seed = 99;
  ASSERT_OK_AND_ASSIGN(runners::GenerateResult other_seed,
                       GenerateOne(alone.get(), r));
  EXPECT_NE(other_seed.token_ids, solo.token_ids);
}

// Streaming: after every token but the last, on_text gets the decoded text
// of the tokens so far, on the engine thread; the same under preemption.
TEST(EngineTest, OnTextSeesTheTextSoFarAfterEachToken) {
  ToyModel model(258);
  ByteTokenizer tok;
  ASSERT_OK_AND_ASSIGN(auto engine,
                       Engine::Create(&model, &tok, Options(64, true, 16)));
  const std::vector<int32_t> prompt = Seq(3, 40, 1, 5);
  const std::vector<int32_t> want = ReferenceGreedy(model, prompt, 20);

  std::vector<std::string> seen;
  GenerateTokensRequest r;
  r.prompt = prompt;
  r.max_new_tokens = 20;
  r.on_text = [&seen](absl::string_view text) { seen.emplace_back(text); };
  ASSERT_OK_AND_ASSIGN(runners::GenerateResult full,
                       GenerateOne(engine.get(), r));
  EXPECT_EQ(full.token_ids, want);
  ASSERT_EQ(seen.size(), 19u);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i],
              tok.Decode(absl::MakeConstSpan(want).subspan(0, i + 1), true))
        << i;
  }
  EXPECT_EQ(full.text, tok.Decode(want, true));

  // With a stop string the last call comes before the token that completes
  // it, so no call sees the stop string.
  const std::string text = tok.Decode(want, true);
  const std::string stop = text.substr(7, 2);
  seen.clear();
  r.stop = {stop};
  ASSERT_OK_AND_ASSIGN(runners::GenerateResult stopped,
                       GenerateOne(engine.get(), r));
  EXPECT_EQ(seen.size(), stopped.token_ids.size() - 1);
  for (const std::string& t : seen)
    EXPECT_EQ(t.find(stop), std::string::npos) << t;

  // Preempted and recomputed: the same calls, none repeated.
  ToyModel model2(258);
  ASSERT_OK_AND_ASSIGN(auto busy,
                       Engine::Create(&model2, &tok, Options(20, true, 64)));
  std::vector<std::string> busy_seen;
  Collector<runners::GenerateResult> c(25);
  for (int i = 0; i < 25; ++i) {
    GenerateTokensRequest other;
    other.prompt = Seq(5, 30, 100 + i, 3);
    other.max_new_tokens = 40;
    if (i == 12) {
      other.prompt = prompt;
      other.max_new_tokens = 20;
      other.on_text = [&busy_seen](absl::string_view text) {
        busy_seen.emplace_back(text);
      };
    }
    ASSERT_OK(busy->SubmitGenerate(other, c.For(i)));
  }
  auto results = c.Wait();
  EXPECT_GT(busy->stats().preemptions, 0);
  ASSERT_OK(results[12].status());
  std::vector<std::string> alone;
  for (size_t i = 0; i + 1 < want.size(); ++i) {
    alone.push_back(
        tok.Decode(absl::MakeConstSpan(want).subspan(0, i + 1), true));
  }
  EXPECT_EQ(busy_seen, alone);

  // Without a tokenizer there is no text to stream.
  ToyModel model3(258);
  ASSERT_OK_AND_ASSIGN(auto bare,
                       Engine::Create(&model3, nullptr, Options(64)));
  GenerateTokensRequest g;
  g.prompt = {1, 2};
  g.on_text = [](absl::string_view) {};
  EXPECT_THAT(
      bare->SubmitGenerate(g, [](absl::StatusOr<runners::GenerateResult>) {}),
      StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(EngineTest, PreemptionUnderPoolPressureKeepsScoresExact) {
  const auto reqs = MmluLike(4, 6);
  ToyModel big_model, small_model;
  ASSERT_OK_AND_ASSIGN(
      auto big, Engine::Create(&big_model, nullptr, Options(1024, true, 512)));
  // 40 blocks: a few sequences at a time.
  ASSERT_OK_AND_ASSIGN(auto small, Engine::Create(&small_model, nullptr,
                                                  Options(40, true, 512)));
  const auto a = RunScores(big.get(), reqs);
  const auto b = RunScores(small.get(), reqs);
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_OK(a[i].status());
    ASSERT_OK(b[i].status());
    EXPECT_EQ(a[i]->logprobs, b[i]->logprobs) << i;
  }
}

TEST(EngineTest, CancelledRequestsFinishWithCancelledError) {
  ToyModel model;
  ASSERT_OK_AND_ASSIGN(auto engine,
                       Engine::Create(&model, nullptr, Options(512, true, 32)));
  std::atomic<bool> cancelled{true};
  auto reqs = MmluLike(2, 10);
  for (auto& r : reqs) r.cancelled = &cancelled;
  const auto got = RunScores(engine.get(), reqs);
  for (const auto& g : got)
    EXPECT_THAT(g.status(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_LT(model.forwarded_tokens(), 64);
}

TEST(EngineTest, RefusesRequestsThatCanNeverRun) {
  ToyModel model(300, /*max_position=*/100);
  ASSERT_OK_AND_ASSIGN(auto engine,
                       Engine::Create(&model, nullptr, Options(5)));
  auto noop = [](absl::StatusOr<ScoreOutput>) {};
  ScoreRequest too_long;
  too_long.tokens.assign(101, 1);
  too_long.targets = {{0, 1}};
  EXPECT_THAT(engine->SubmitScore(too_long, noop),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("101 tokens")));
  ScoreRequest bad_token;
  bad_token.tokens = {1, 2, 300};
  bad_token.targets = {{0, 1}};
  EXPECT_THAT(engine->SubmitScore(bad_token, noop),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("300")));
  ScoreRequest too_big_for_pool;  // 4 usable blocks = 64 tokens
  too_big_for_pool.tokens.assign(80, 1);
  too_big_for_pool.targets = {{79, 1}};
  EXPECT_THAT(engine->SubmitScore(too_big_for_pool, noop),
              StatusIs(absl::StatusCode::kResourceExhausted));
  GenerateTokensRequest g;
  g.prompt = {1, 2};
  g.stop = {"x"};  // no tokenizer to decode with
  EXPECT_THAT(
      engine->SubmitGenerate(g, [](absl::StatusOr<runners::GenerateResult>) {}),
      StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(EngineTest, ManyCallerThreadsShareTheEngine) {
  ToyModel model;
  ASSERT_OK_AND_ASSIGN(
      auto engine, Engine::Create(&model, nullptr, Options(256, true, 128)));
  const auto reqs = MmluLike(3, 4);
  std::vector<std::vector<absl::StatusOr<ScoreOutput>>> per_thread(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back(
        [&, t] { per_thread[t] = RunScores(engine.get(), reqs); });
  }
  for (auto& th : threads) th.join();
  for (int t = 1; t < 4; ++t) {
    for (size_t i = 0; i < reqs.size(); ++i) {
      ASSERT_OK(per_thread[t][i].status());
      EXPECT_EQ(per_thread[t][i]->logprobs, per_thread[0][i]->logprobs);
    }
  }
}

// Turns are granted in arrival order: a holder that asks again after another
// caller queued waits behind it, so two busy engines alternate.
TEST(StepTurnsTest, TurnsGoInArrivalOrder) {
  StepTurns turns;
  std::vector<char> order;
  absl::Mutex order_mu;
  turns.Acquire();  // "A" holds the device
  std::thread b([&] {
    turns.Acquire();
    {
      absl::MutexLock l(&order_mu);
      order.push_back('B');
    }
    turns.Release();
  });
  while (turns.waiting() < 1) std::this_thread::yield();
  std::thread a_again([&] {
    turns.Acquire();
    {
      absl::MutexLock l(&order_mu);
      order.push_back('A');
    }
    turns.Release();
  });
  while (turns.waiting() < 2) std::this_thread::yield();
  turns.Release();
  b.join();
  a_again.join();
  EXPECT_EQ(order, (std::vector<char>{'B', 'A'}));
  EXPECT_EQ(turns.granted(), 3);
  EXPECT_EQ(turns.waiting(), 0);
}

// Two engines on one StepTurns (a candidate and a judge): every forward step
// of either takes a turn, and the outputs equal those of each engine alone.
TEST(StepTurnsTest, TwoEnginesShareTheDeviceStepByStep) {
  ToyModel model_a(/*vocab=*/258), model_b(/*vocab=*/258);
  ByteTokenizer tok;
  StepTurns turns;
  EngineOptions shared = Options(64, true, 16);
  shared.turns = &turns;
  ASSERT_OK_AND_ASSIGN(auto a, Engine::Create(&model_a, &tok, shared));
  ASSERT_OK_AND_ASSIGN(auto b, Engine::Create(&model_b, &tok, shared));
  ToyModel model_solo(/*vocab=*/258);
  ASSERT_OK_AND_ASSIGN(
      auto solo, Engine::Create(&model_solo, &tok, Options(64, true, 16)));
  Collector<runners::GenerateResult> ca(6), cb(6);
  std::vector<GenerateTokensRequest> requests;
  for (int i = 0; i < 6; ++i) {
    GenerateTokensRequest r;
    r.prompt = Seq(3, 20, 50 + i, 4);
    r.max_new_tokens = 12;
    requests.push_back(r);
    ASSERT_OK(a->SubmitGenerate(r, ca.For(i)));
    ASSERT_OK(b->SubmitGenerate(r, cb.For(i)));
  }
  auto ra = ca.Wait();
  auto rb = cb.Wait();
  for (int i = 0; i < 6; ++i) {
    ASSERT_OK(ra[i].status());
    ASSERT_OK(rb[i].status());
    ASSERT_OK_AND_ASSIGN(runners::GenerateResult alone,
                         GenerateOne(solo.get(), requests[i]));
    EXPECT_EQ(ra[i]->token_ids, alone.token_ids) << i;
    EXPECT_EQ(rb[i]->token_ids, alone.token_ids) << i;
  }
  EXPECT_EQ(turns.granted(), a->stats().steps + b->stats().steps);
  EXPECT_EQ(turns.waiting(), 0);
}

}  // namespace
}  // namespace evald::runners::native::engine
