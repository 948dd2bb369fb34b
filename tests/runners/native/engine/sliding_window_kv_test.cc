// File: tests/runners/native/engine/sliding_window_kv_test.cc
// -----------------------------------------------------------------------------
// Sliding-window KV release through the engine, on a Mistral-shaped tiny
// model the test writes: prompts and generations longer than the window give
// the same tokens and the same log-probability bits whether the blocks
// outside the window are released or kept (full attention masked to the
// window), whatever the chunking and the batch; the released blocks are
// counted, and a released prefix is still a prefix-cache hit for a later
// request. Gemma's interleaved global layers keep every block.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "runners/native/engine/engine.h"
#include "runners/native/model/model.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "tests/runners/native/engine/collector.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::engine {
namespace {

using testing::Collector;

constexpr int kWindow = 24;  // starts inside a block
constexpr int kVocab = 512;

std::vector<int32_t> Tokens(int n, int salt) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = (i * 37 + salt * 101 + 7) % kVocab;
  return t;
}

class SlidingWindowKvTest : public ::testing::Test {
 protected:
  void Load(const std::string& arch, int max_window_layers = 0) {
    testing::CheckpointSpec spec;
    spec.arch = arch;
    spec.hidden = 64;
    spec.layers = 2;
    spec.heads = 4;
    spec.kv_heads = 2;
    spec.intermediate = 96;
    spec.vocab = kVocab;
    spec.max_position = 512;
    spec.dtype = model::DType::kF32;
    spec.seed = 11;
    spec.sliding_window = kWindow;
    spec.sliding_window_pattern = 2;             // gemma3: local, global
    spec.max_window_layers = max_window_layers;  // qwen2: first sliding layer
    ASSERT_OK(testing::WriteCheckpoint(spec, dir_.path()));
    model::LoadOptions lo;
    lo.device = model::Device::kCpu;
    lo.num_threads = 2;
    ASSERT_OK_AND_ASSIGN(model_, model::Model::Load(dir_.path(), lo));
  }

  std::unique_ptr<Engine> Make(bool release, int budget = 256,
                               int blocks = 64) {
    EngineOptions o;
    o.num_kv_blocks = blocks;
    o.max_batch_tokens = budget;
    o.max_num_seqs = 8;
    o.model_id = "swa";
    o.release_window_kv = release;
    auto e = Engine::Create(model_.get(), nullptr, o);
    EXPECT_OK(e.status());
    return std::move(e).value();
  }

  static std::vector<std::vector<int32_t>> Generate(
      Engine* e, const std::vector<std::vector<int32_t>>& prompts,
      int max_new) {
    Collector<runners::GenerateResult> c(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      GenerateTokensRequest r;
      r.prompt = prompts[i];
      r.max_new_tokens = max_new;
      EXPECT_OK(e->SubmitGenerate(std::move(r), c.For(i)));
    }
    std::vector<std::vector<int32_t>> out;
    for (auto& r : c.Wait()) {
      EXPECT_OK(r.status());
      out.push_back(r.ok() ? r->token_ids : std::vector<int32_t>{});
    }
    return out;
  }

  // Every position's log-probability of the next token, from `first_row` on.
  static std::vector<ScoreOutput> Score(
      Engine* e, const std::vector<std::vector<int32_t>>& seqs,
      int first_row = 0) {
    Collector<ScoreOutput> c(seqs.size());
    for (size_t i = 0; i < seqs.size(); ++i) {
      ScoreRequest r;
      r.tokens.assign(seqs[i].begin(), seqs[i].end() - 1);
      for (int row = first_row; row < r.tokens.size(); ++row)
        r.targets.push_back({row, seqs[i][row + 1]});
      EXPECT_OK(e->SubmitScore(std::move(r), c.For(i)));
    }
    std::vector<ScoreOutput> out;
    for (auto& r : c.Wait()) {
      EXPECT_OK(r.status());
      out.push_back(r.ok() ? *r : ScoreOutput{});
    }
    return out;
  }

  evald::testing::TempDir dir_;
  std::unique_ptr<model::Model> model_;
};

TEST_F(SlidingWindowKvTest, MistralReleaseGivesTheSameTokensAndBits) {
  Load("mistral");
  ASSERT_EQ(model_->config().sliding_window, kWindow);
  const std::vector<std::vector<int32_t>> prompts = {Tokens(40, 1),
                                                     Tokens(57, 2)};
  auto kept = Make(false);
  auto released = Make(true);
  // Generations well past the window, batched together.
  const auto want = Generate(kept.get(), prompts, 70);
  const auto got = Generate(released.get(), prompts, 70);
  ASSERT_EQ(want.size(), 2u);
  EXPECT_EQ(got, want);
  EXPECT_EQ(want[0].size(), 70u);
  EXPECT_EQ(kept->stats().kv_window_released_blocks, 0);
  // Each sequence ends at 110 / 127 positions: blocks wholly before
  // position - 23 went back, 5 and 6 of them.
  EXPECT_EQ(released->stats().kv_window_released_blocks, 5 + 6);

  // Prompt + generation scored whole, and in chunks of 16 tokens (blocks
  // released between chunks), alone and batched.
  std::vector<std::vector<int32_t>> full;
  for (int i = 0; i < 2; ++i) {
    full.push_back(prompts[i]);
    full.back().insert(full.back().end(), want[i].begin(), want[i].end());
  }
  const auto base = Score(kept.get(), full);
  auto chunked = Make(true, /*budget=*/16);
  for (Engine* e : {released.get(), chunked.get()}) {
    const auto out = Score(e, full);
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(out[i].logprobs.size(), base[i].logprobs.size());
      for (size_t k = 0; k < out[i].logprobs.size(); ++k)
        EXPECT_EQ(out[i].logprobs[k], base[i].logprobs[k]) << i << " " << k;
    }
    EXPECT_EQ(Score(e, {full[1]})[0].logprobs, base[1].logprobs);
  }
  EXPECT_GT(chunked->stats().kv_window_released_blocks, 0);
  // Greedy means each generated token is its position's argmax.
  for (size_t k = prompts[0].size() - 1; k < base[0].is_greedy.size(); ++k)
    EXPECT_TRUE(base[0].is_greedy[k]) << k;
}

TEST_F(SlidingWindowKvTest, ReleasedPrefixBlocksStayInThePrefixCache) {
  Load("mistral");
  auto released = Make(true);
  auto kept = Make(false);
  const std::vector<int32_t> seq = Tokens(120, 3);
  const int first_row = 100;
  // The first request releases its leading blocks as its prefill goes on in
  // chunks of 32; they were published first, so the second one hits them.
  auto chunked = Make(true, /*budget=*/32);
  const ScoreOutput first = Score(chunked.get(), {seq}, first_row)[0];
  EXPECT_GT(chunked->stats().kv_window_released_blocks, 0);
  const ScoreOutput second = Score(chunked.get(), {seq}, first_row)[0];
  EXPECT_EQ(first.cached_tokens, 0);
  EXPECT_EQ(second.cached_tokens, 96);  // 6 whole blocks before row 100
  const ScoreOutput want = Score(kept.get(), {seq}, first_row)[0];
  EXPECT_EQ(first.logprobs, want.logprobs);
  EXPECT_EQ(second.logprobs, want.logprobs);
  // A request sharing only the first 64 tokens, with another one holding
  // them at the same time: both match the kept pool.
  std::vector<int32_t> other = seq;
  for (int i = 64; i < 120; ++i) other[i] = (other[i] + 5) % kVocab;
  const auto both = Score(released.get(), {seq, other}, first_row);
  const auto both_kept = Score(kept.get(), {seq, other}, first_row);
  EXPECT_EQ(both[0].logprobs, both_kept[0].logprobs);
  EXPECT_EQ(both[1].logprobs, both_kept[1].logprobs);
}

TEST_F(SlidingWindowKvTest, PoolPressureWithSharedPrefixesKeepsTheBits) {
  // Six generations sharing a 48-token prefix on a pool that cannot hold
  // them all at full length: preemption, recompute from the prefix cache
  // and release interleave; every token equals a roomy kept pool's.
  Load("mistral");
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> p = Tokens(48, 7);
    const std::vector<int32_t> tail = Tokens(5 + 3 * i, 20 + i);
    p.insert(p.end(), tail.begin(), tail.end());
    prompts.push_back(std::move(p));
  }
  auto roomy = Make(false, 256, 128);
  const auto want = Generate(roomy.get(), prompts, 60);
  // 9 usable blocks, up to 8 per sequence: kept, the pool preempts; with
  // release it preempts less, and the bits stay.
  auto tight_kept = Make(false, 64, 10);
  auto tight = Make(true, 64, 10);
  EXPECT_EQ(Generate(tight_kept.get(), prompts, 60), want);
  EXPECT_EQ(Generate(tight.get(), prompts, 60), want);
  const EngineStats kept = tight_kept->stats();
  const EngineStats s = tight->stats();
  EXPECT_GT(kept.preemptions, 0);
  EXPECT_LT(s.preemptions, kept.preemptions);
  EXPECT_GT(s.kv_window_released_blocks, 0);
  EXPECT_GT(s.cached_prompt_tokens, 0);
  std::printf(
      "[ pressure ] preemptions kept %lld, released %lld; released blocks "
      "%lld\n",
      static_cast<long long>(kept.preemptions),
      static_cast<long long>(s.preemptions),
      static_cast<long long>(s.kv_window_released_blocks));
}

TEST_F(SlidingWindowKvTest, APoolSmallerThanTheSequenceServesItUnderRelease) {
  // 7 usable blocks (112 positions); the window (2 blocks) plus a 32-token
  // step fits, a 300-token sequence (19 blocks) does not.
  Load("mistral");
  const std::vector<int32_t> seq = Tokens(300, 9);
  auto roomy = Make(false, 32, 64);
  auto small = Make(true, 32, 8);
  auto small_kept = Make(false, 32, 8);
  ScoreRequest r;
  r.tokens.assign(seq.begin(), seq.end() - 1);
  r.targets.push_back({0, seq[1]});
  EXPECT_THAT(small_kept->SubmitScore(r, [](absl::StatusOr<ScoreOutput>) {}),
              ::evald::testing::StatusIs(absl::StatusCode::kResourceExhausted));
  const ScoreOutput want = Score(roomy.get(), {seq})[0];
  const ScoreOutput got = Score(small.get(), {seq})[0];
  EXPECT_EQ(got.logprobs, want.logprobs);
  // Again: the leading blocks went first and were evicted first, so
  // nothing is cached here; the bits are the same.
  const ScoreOutput tail_want = Score(roomy.get(), {seq}, 280)[0];
  EXPECT_EQ(Score(small.get(), {seq}, 280)[0].logprobs, tail_want.logprobs);
  // A pool that keeps the whole prefix cached (19 of 23 blocks) serves 17
  // blocks of it, taking only the 2 the first query's window reads.
  auto medium = Make(true, 32, 24);
  ASSERT_EQ(Score(medium.get(), {seq}, 280)[0].logprobs, tail_want.logprobs);
  const ScoreOutput tail = Score(medium.get(), {seq}, 280)[0];
  EXPECT_EQ(tail.cached_tokens, 272);
  EXPECT_EQ(tail.logprobs, tail_want.logprobs);
  // A generation past the pool's size, next to a scored one.
  const std::vector<std::vector<int32_t>> prompts = {Tokens(100, 10)};
  EXPECT_EQ(Generate(small.get(), prompts, 100),
            Generate(roomy.get(), prompts, 100));
  EXPECT_GT(small->stats().kv_window_released_blocks, 20);
}

TEST_F(SlidingWindowKvTest, GemmaGlobalLayersKeepEveryBlock) {
  Load("gemma3");
  auto e = Make(true);
  const auto out = Generate(e.get(), {Tokens(40, 4)}, 60);
  EXPECT_EQ(out[0].size(), 60u);
  EXPECT_EQ(e->stats().kv_window_released_blocks, 0);
}

TEST_F(SlidingWindowKvTest, Qwen2ReleasesOnlyWhenEveryLayerSlides) {
  const std::vector<std::vector<int32_t>> prompts = {Tokens(40, 5)};
  Load("qwen2", /*max_window_layers=*/1);  // layer 0 attends to everything
  auto partial = Make(true);
  const auto partial_out = Generate(partial.get(), prompts, 60);
  EXPECT_EQ(partial_out[0].size(), 60u);
  EXPECT_EQ(partial->stats().kv_window_released_blocks, 0);
  partial.reset();
  model_.reset();
  Load("qwen2", /*max_window_layers=*/0);  // rewritten in place
  auto released = Make(true);
  auto kept = Make(false);
  EXPECT_EQ(Generate(released.get(), prompts, 60),
            Generate(kept.get(), prompts, 60));
  EXPECT_GT(released->stats().kv_window_released_blocks, 0);
}

}  // namespace
}  // namespace evald::runners::native::engine
