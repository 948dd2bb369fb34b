// Elastic KV pools: block ranges that come and go (BlockPool), the slabs an
// engine borrows from and gives back to a device's KvBudget (ElasticKv), and
// two engines sharing one budget - an idle judge's blocks going to the
// candidate and coming back, with outputs bit-identical throughout.
#include "runners/native/engine/elastic_kv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "runners/native/engine/block_pool.h"
#include "runners/native/engine/engine.h"
#include "runners/native/engine/sampler.h"
#include "runners/native/planner/kv_budget.h"
#include "tests/runners/native/engine/collector.h"
#include "tests/runners/native/engine/toy_model.h"
#include "tests/testing/status_matchers.h"

namespace evald::runners::native::engine {

using model::kKvBlockSize;
namespace {

using ::evald::testing::StatusIs;
using testing::Collector;
using testing::ToyKvCache;
using testing::ToyModel;

constexpr int64_t kBlockBytes = kKvBlockSize * testing::kToyDim * sizeof(float);

TEST(BlockPoolTest, InactiveBlocksAreNeverHandedOutUntilActivated) {
  BlockPool pool(12, /*enable_caching=*/true, /*active_blocks=*/4);
  EXPECT_EQ(pool.num_active_blocks(), 4);
  EXPECT_EQ(pool.num_free_blocks(), 3);
  EXPECT_FALSE(pool.GetNewBlocks(4).has_value());
  pool.ActivateBlocks(4, 4);
  EXPECT_EQ(pool.num_free_blocks(), 7);
  auto got = pool.GetNewBlocks(7);
  ASSERT_TRUE(got.has_value());
  for (const KvBlock* b : *got) EXPECT_LT(b->id, 8);
}

TEST(BlockPoolTest, DeactivationNeedsEveryBlockUnreferencedAndEvictsTheCache) {
  BlockPool pool(8, /*enable_caching=*/true);
  auto got = *pool.GetNewBlocks(7);  // ids handed out in order 1..7
  const BlockHash h{5, 5};
  KvBlock* five = nullptr;
  for (KvBlock* b : got) {
    if (b->id == 5) five = b;
  }
  ASSERT_NE(five, nullptr);
  pool.CacheFullBlock(five, h);
  std::vector<KvBlock*> tail;
  for (KvBlock* b : got) {
    if (b->id >= 4 && b->id != 6) tail.push_back(b);
  }
  pool.FreeBlocks(tail);  // 4, 5, 7 free; 6 still referenced
  EXPECT_FALSE(pool.DeactivateBlocks(4, 4));
  EXPECT_EQ(pool.num_active_blocks(), 8);
  EXPECT_NE(pool.GetCachedBlock(h), nullptr);
  for (KvBlock* b : got) {
    if (b->id == 6) pool.FreeBlocks({b});
  }
  ASSERT_TRUE(pool.DeactivateBlocks(4, 4));
  EXPECT_EQ(pool.num_active_blocks(), 4);
  EXPECT_EQ(pool.num_free_blocks(), 0);
  EXPECT_EQ(pool.GetCachedBlock(h), nullptr);
  pool.ActivateBlocks(4, 4);
  EXPECT_EQ(pool.num_free_blocks(), 4);
}

// Two pools on one budget, driven by hand: unit = 4 blocks.
struct Side {
  std::unique_ptr<ToyKvCache> cache;
  std::unique_ptr<ElasticKv> kv;
  std::unique_ptr<KvCacheManager> manager;
};

Side MakeSide(planner::KvBudget* budget, const char* name, int capacity,
              int min_blocks) {
  Side s;
  s.cache = std::make_unique<ToyKvCache>(capacity, /*commit_unit=*/4);
  auto kv = ElasticKv::Create(budget, name, s.cache.get(), min_blocks,
                              kBlockBytes, 0);
  EXPECT_OK(kv.status());
  s.kv = *std::move(kv);
  s.manager = std::make_unique<KvCacheManager>(capacity, true,
                                               s.kv->min_blocks(), s.kv.get());
  return s;
}

TEST(ElasticKvTest,
     GrowsFromTheSharedRemainderAndGivesUnusedUnitsToAStarvedPeer) {
  planner::KvBudget budget(32 * kBlockBytes);
  Side a = MakeSide(&budget, "a", 32, 5);  // minimum rounds up to 8 blocks
  Side b = MakeSide(&budget, "b", 32, 8);
  EXPECT_EQ(a.kv->min_blocks(), 8);
  EXPECT_EQ(a.kv->committed_blocks(), 8);
  EXPECT_EQ(budget.SharedFree(), 16 * kBlockBytes);
  // a's first sequence needs 12 blocks: 7 usable + 2 borrowed units.
  auto first = a.manager->AllocateSlots(1, 0, 12 * kKvBlockSize, {});
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(a.kv->committed_blocks(), 16);
  EXPECT_EQ(a.kv->grown_blocks(), 8);
  for (int32_t id : *first) EXPECT_TRUE(a.cache->committed(id)) << id;
  // Its second takes the rest of the shared remainder; a third runs dry.
  ASSERT_TRUE(a.manager->AllocateSlots(2, 0, 8 * kKvBlockSize, {}).has_value());
  EXPECT_EQ(budget.SharedFree(), 0);
  EXPECT_FALSE(
      a.manager->AllocateSlots(3, 0, 4 * kKvBlockSize, {}).has_value());
  // b still has its whole minimum, but nothing more: it starves.
  ASSERT_TRUE(b.manager->AllocateSlots(1, 0, 7 * kKvBlockSize, {}).has_value());
  EXPECT_FALSE(
      b.manager->AllocateSlots(2, 0, 1 * kKvBlockSize, {}).has_value());
  b.kv->AfterStep(b.manager->mutable_pool());
  EXPECT_TRUE(budget.OthersStarved("a"));
  // a's step ends with its first sequence done and the second still
  // running: the units nothing references go back, the second's stay.
  a.manager->Free(1);
  a.kv->AfterStep(a.manager->mutable_pool());
  EXPECT_EQ(a.kv->shrunk_blocks(), 8);
  EXPECT_EQ(a.kv->committed_blocks(), 16);
  EXPECT_EQ(a.cache->decommits() * 4, a.kv->shrunk_blocks());
  for (int32_t id : a.manager->BlockTable(2))
    EXPECT_TRUE(a.cache->committed(id)) << id;
  // b grows into what a gave back and stops starving once a step's
  // allocations all fitted.
  ASSERT_TRUE(b.manager->AllocateSlots(2, 0, 1 * kKvBlockSize, {}).has_value());
  b.kv->AfterStep(b.manager->mutable_pool());
  EXPECT_FALSE(budget.OthersStarved("a"));
  EXPECT_EQ(budget.Held("a") + budget.Held("b") + budget.SharedFree(),
            32 * kBlockBytes);
}

TEST(ElasticKvTest, MinimumThatCannotBeGuaranteedIsRefusedWithTheModelNamed) {
  planner::KvBudget budget(16 * kBlockBytes);
  ToyKvCache cache(16, 4);
  auto first =
      ElasticKv::Create(&budget, "candidate", &cache, 12, kBlockBytes, 0);
  ASSERT_OK(first.status());
  ToyKvCache other(16, 4);
  auto second = ElasticKv::Create(&budget, "judge", &other, 8, kBlockBytes, 0);
  EXPECT_THAT(second.status(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(std::string(second.status().message()),
              ::testing::HasSubstr("judge"));
  first->reset();
  // The candidate's engine is gone: its registration went with it.
  EXPECT_OK(
      ElasticKv::Create(&budget, "judge", &other, 8, kBlockBytes, 0).status());
}

// --- Two engines on one budget -------------------------------------------

// `n` distinct score requests of `len` tokens, the last 3 rows scored.
std::vector<ScoreRequest> Burst(int n, int len, int salt) {
  std::vector<ScoreRequest> out(n);
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < len; ++p)
      out[i].tokens.push_back((salt * 131 + i * 37 + p * 11) % 290);
    for (int j = 1; j <= 3; ++j)
      out[i].targets.push_back({len - j, (i + j) % 290});
  }
  return out;
}

// Runs the burst and checks every log-prob against a recompute from the
// tokens alone (the toy model's reference): bit-identical or the test fails.
void RunAndCheck(Engine* engine, const ToyModel& model,
                 const std::vector<ScoreRequest>& reqs) {
  Collector<ScoreOutput> c(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i)
    ASSERT_OK(engine->SubmitScore(reqs[i], c.For(i)));
  const auto got = c.Wait();
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_OK(got[i].status()) << i;
    for (size_t t = 0; t < reqs[i].targets.size(); ++t) {
      const ScoreTarget& tg = reqs[i].targets[t];
      std::vector<int32_t> prefix(reqs[i].tokens.begin(),
                                  reqs[i].tokens.begin() + tg.row + 1);
      EXPECT_EQ(got[i]->logprobs[t],
                TokenLogprob(model.ReferenceLogits(prefix), tg.token))
          << "request " << i << " target " << t;
    }
  }
}

EngineOptions Shared(planner::KvBudget* budget, const char* id,
                     int min_blocks) {
  EngineOptions o;
  o.num_kv_blocks = min_blocks;
  o.max_batch_tokens = 4096;
  o.max_num_seqs = 64;
  o.model_id = id;
  o.kv_budget = budget;
  return o;
}

TEST(ElasticEngineTest, IdleJudgeLendsItsBlocksToTheCandidateAndGetsThemBack) {
  ToyModel candidate_model, judge_model;
  candidate_model.set_elastic_unit(8);
  judge_model.set_elastic_unit(8);
  // 256 blocks in all; each model is guaranteed 40 (rounded to 40).
  planner::KvBudget budget(256 * kBlockBytes);
  ASSERT_OK_AND_ASSIGN(
      auto candidate,
      Engine::Create(&candidate_model, nullptr, Shared(&budget, "cand", 40)));
  ASSERT_OK_AND_ASSIGN(
      auto judge,
      Engine::Create(&judge_model, nullptr, Shared(&budget, "judge", 40)));
  EXPECT_EQ(candidate->stats().kv_min_blocks, 40);
  EXPECT_EQ(candidate->stats().kv_blocks, 40);

  // The judge grades a burst that needs far more than its minimum: 24
  // requests of 100 tokens (7 blocks each) run at once.
  RunAndCheck(judge.get(), judge_model, Burst(24, 100, 1));
  EXPECT_GT(judge->stats().kv_grown_blocks, 0);
  // Idle again, it gives back everything it borrowed.
  judge->WaitUntilIdle();
  EXPECT_EQ(judge->stats().kv_blocks, 40);
  EXPECT_EQ(budget.SharedFree(), 176 * kBlockBytes);

  const int64_t judge_grown = judge->stats().kv_grown_blocks;

  // Now the candidate generates 30 answers at once (7 blocks each at the
  // end): more than the shared remainder the judge left while it was busy,
  // so it needs the blocks the judge gave back. Its tokens equal those of
  // an engine with a fixed pool of its own.
  std::vector<GenerateTokensRequest> gens(30);
  for (int i = 0; i < 30; ++i) {
    for (int p = 0; p < 20; ++p)
      gens[i].prompt.push_back((i * 41 + p * 7 + 3) % 290);
    gens[i].max_new_tokens = 80;
  }
  ToyModel fixed_model;
  EngineOptions fixed = Shared(nullptr, "cand-fixed", 512);
  ASSERT_OK_AND_ASSIGN(auto reference,
                       Engine::Create(&fixed_model, nullptr, fixed));
  Collector<runners::GenerateResult> elastic_out(gens.size()),
      fixed_out(gens.size());
  for (size_t i = 0; i < gens.size(); ++i) {
    ASSERT_OK(candidate->SubmitGenerate(gens[i], elastic_out.For(i)));
    ASSERT_OK(reference->SubmitGenerate(gens[i], fixed_out.For(i)));
  }
  const auto got = elastic_out.Wait();
  const auto want = fixed_out.Wait();
  for (size_t i = 0; i < gens.size(); ++i) {
    ASSERT_OK(got[i].status());
    ASSERT_OK(want[i].status());
    EXPECT_EQ(got[i]->token_ids, want[i]->token_ids) << i;
  }
  EXPECT_GT(candidate->stats().kv_grown_blocks, 176 - judge_grown);
  candidate->WaitUntilIdle();
  EXPECT_EQ(candidate->stats().kv_blocks, 40);
  EXPECT_GT(candidate->stats().kv_shrunk_blocks, 0);

  // And the judge can grow again: nothing was reloaded, only KV moved, and
  // every log-prob of every burst equals a recompute.
  RunAndCheck(judge.get(), judge_model, Burst(24, 100, 3));
  judge->WaitUntilIdle();
  candidate->WaitUntilIdle();
  EXPECT_EQ(budget.SharedFree(), 176 * kBlockBytes);
}

TEST(ElasticEngineTest, RequestsBeyondTheGuaranteedMinimumAreRefused) {
  ToyModel model;
  model.set_elastic_unit(8);
  planner::KvBudget budget(256 * kBlockBytes);
  ASSERT_OK_AND_ASSIGN(
      auto engine, Engine::Create(&model, nullptr, Shared(&budget, "m", 16)));
  ScoreRequest r = Burst(1, 17 * kKvBlockSize, 4)[0];
  EXPECT_THAT(engine->SubmitScore(r, [](absl::StatusOr<ScoreOutput>) {}),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(ElasticEngineTest,
     BackendWithoutAnElasticCacheGetsAFixedPoolCountedInTheBudget) {
  ToyModel fixed_model;  // no elastic unit
  planner::KvBudget budget(100 * kBlockBytes);
  EngineOptions o = Shared(&budget, "fixed", 60);
  o.resident_bytes = 10 * kBlockBytes;
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::Create(&fixed_model, nullptr, o));
  EXPECT_EQ(engine->stats().kv_blocks, 60);
  EXPECT_EQ(budget.SharedFree(), 30 * kBlockBytes);
  // A second model whose minimum no longer fits is refused, naming it.
  ToyModel other;
  auto refused = Engine::Create(&other, nullptr, Shared(&budget, "other", 40));
  EXPECT_THAT(refused.status(), StatusIs(absl::StatusCode::kResourceExhausted));
  engine.reset();
  EXPECT_EQ(budget.SharedFree(), 100 * kBlockBytes);
}

}  // namespace
}  // namespace evald::runners::native::engine
