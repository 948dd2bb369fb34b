#include "runners/native/engine/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <vector>

#include "runners/native/engine/block_hash.h"
#include "runners/native/engine/kv_cache_manager.h"

namespace evald::runners::native::engine {
namespace {

// Drives the scheduler the way the engine does, without tensors: a score
// sequence ends once all its tokens are computed; a generate sequence appends
// a token each time it is fully computed until it reaches `gen_len` tokens.
class SchedulerHarness {
 public:
  SchedulerHarness(int num_blocks, SchedulerOptions options,
                   bool caching = true)
      : kv_(num_blocks, caching), scheduler_(options, &kv_) {}

  Sequence* Add(std::vector<int32_t> tokens,
                Sequence::Kind kind = Sequence::Kind::kScore, int gen_len = 0) {
    auto s = std::make_unique<Sequence>();
    s->id = next_id_++;
    s->kind = kind;
    s->tokens = std::move(tokens);
    s->num_prompt_tokens = s->num_tokens();
    if (kind == Sequence::Kind::kScore) s->logit_rows = {s->num_tokens() - 1};
    ExtendBlockHashes(root_, s->tokens, &s->block_hashes);
    gen_len_[s->id] = gen_len;
    Sequence* raw = s.get();
    seqs_.push_back(std::move(s));
    scheduler_.Add(raw);
    return raw;
  }

  // One step; returns the plan (chunks keep pointers to live sequences).
  StepPlan Step() {
    StepPlan plan = scheduler_.Schedule();
    for (const ScheduledChunk& c : plan.chunks) {
      if (std::find(admitted_.begin(), admitted_.end(), c.seq->id) ==
          admitted_.end()) {
        admitted_.push_back(c.seq->id);
      }
    }
    scheduler_.OnStepComputed(plan);
    for (const ScheduledChunk& c : plan.chunks) {
      Sequence* s = c.seq;
      if (s->num_uncomputed() != 0) continue;
      if (s->kind == Sequence::Kind::kGenerate &&
          s->num_tokens() < gen_len_[s->id]) {
        s->tokens.push_back(5000 + s->num_tokens());
        ExtendBlockHashes(root_, s->tokens, &s->block_hashes);
        continue;
      }
      finished_.push_back(s->id);
      scheduler_.Finish(s);
    }
    return plan;
  }

  int RunToCompletion(int max_steps = 10000) {
    int steps = 0;
    while (scheduler_.HasWork() && steps < max_steps) {
      Step();
      ++steps;
    }
    return steps;
  }

  Scheduler& scheduler() { return scheduler_; }
  KvCacheManager& kv() { return kv_; }
  const std::vector<int64_t>& finished() const { return finished_; }
  const std::vector<int64_t>& admitted() const { return admitted_; }

 private:
  BlockHash root_ = RootBlockHash("test-model");
  KvCacheManager kv_;
  Scheduler scheduler_;
  int64_t next_id_ = 1;
  std::vector<std::unique_ptr<Sequence>> seqs_;
  std::map<int64_t, int> gen_len_;
  std::vector<int64_t> finished_;
  std::vector<int64_t> admitted_;
};

std::vector<int32_t> Prompt(int header_id, int header_len, int question_id,
                            int question_len) {
  std::vector<int32_t> t;
  for (int i = 0; i < header_len; ++i) t.push_back(100 * header_id + i % 97);
  for (int i = 0; i < question_len; ++i)
    t.push_back(20000 + 131 * question_id + i);
  return t;
}

TEST(SchedulerTest, ChunkedPrefillRespectsTokenBudget) {
  SchedulerHarness h(64, {.max_batch_tokens = 32});
  Sequence* s = h.Add(Prompt(1, 0, 1, 100));
  int expected_start = 0;
  for (int step = 0; step < 4; ++step) {
    StepPlan plan = h.Step();
    ASSERT_EQ(plan.chunks.size(), 1u);
    EXPECT_EQ(plan.chunks[0].start_pos, expected_start);
    EXPECT_LE(plan.num_tokens(), 32);
    // Logits only on the chunk holding the last position.
    EXPECT_EQ(plan.chunks[0].logit_rows.empty(), step < 3) << step;
    expected_start += plan.chunks[0].num_tokens;
    if (step < 3) {
      EXPECT_EQ(s->num_computed_tokens, expected_start);
    }
  }
  EXPECT_EQ(expected_start, 100);
  EXPECT_FALSE(h.scheduler().HasWork());
}

TEST(SchedulerTest, DecodesAreScheduledBeforePrefills) {
  SchedulerHarness h(64, {.max_batch_tokens = 40});
  Sequence* g =
      h.Add(Prompt(1, 0, 1, 10), Sequence::Kind::kGenerate, /*gen_len=*/30);
  h.Step();  // prefill of g, which then has one token to decode
  Sequence* p = h.Add(Prompt(2, 0, 2, 100));
  StepPlan plan = h.Step();
  ASSERT_EQ(plan.chunks.size(), 2u);
  EXPECT_EQ(plan.chunks[0].seq, g);
  EXPECT_EQ(plan.chunks[0].num_tokens, 1);
  EXPECT_EQ(plan.chunks[1].seq, p);
  EXPECT_EQ(plan.chunks[1].num_tokens, 39);
  // Every later step still gives g its decode.
  plan = h.Step();
  EXPECT_EQ(plan.chunks[0].seq, g);
}

TEST(SchedulerTest, OneLeaderPerUncachedPrefixThenFollowersHit) {
  SchedulerHarness h(256, {.max_batch_tokens = 4096});
  // Two subjects, 6 questions each, submitted interleaved.
  std::vector<Sequence*> a, b;
  for (int q = 0; q < 6; ++q) {
    a.push_back(h.Add(Prompt(1, 96, q, 20)));
    b.push_back(h.Add(Prompt(2, 96, 100 + q, 20)));
  }
  StepPlan first = h.Step();
  // Only one leader per subject in the first step, despite the budget.
  ASSERT_EQ(first.chunks.size(), 2u);
  EXPECT_NE(first.chunks[0].seq->tokens[0], first.chunks[1].seq->tokens[0]);
  h.RunToCompletion();
  int64_t cached = 0, prompt = 0;
  for (auto* s : a)
    cached += s->cached_prompt_tokens, prompt += s->num_prompt_tokens;
  for (auto* s : b)
    cached += s->cached_prompt_tokens, prompt += s->num_prompt_tokens;
  // 10 followers read the 96-token header (6 blocks) from the cache.
  EXPECT_EQ(cached, 10 * 96);
  EXPECT_EQ(h.finished().size(), 12u);
}

TEST(SchedulerTest, WithoutCachingEveryoneComputesEverything) {
  SchedulerHarness h(256, {.max_batch_tokens = 4096}, /*caching=*/false);
  std::vector<Sequence*> a;
  for (int q = 0; q < 6; ++q) a.push_back(h.Add(Prompt(1, 96, q, 20)));
  StepPlan first = h.Step();
  EXPECT_EQ(first.chunks.size(), 6u);  // no leader rule without a cache to fill
  EXPECT_EQ(first.num_tokens(), 6 * 116);
  for (auto* s : a) EXPECT_EQ(s->cached_prompt_tokens, 0);
}

TEST(SchedulerTest, RequestsSharingAPrefixRunBackToBack) {
  // Budget for one sequence per step, so the admission order is visible.
  SchedulerHarness h(256, {.max_batch_tokens = 116});
  std::vector<int> subject_of;
  for (int q = 0; q < 5; ++q) {
    for (int subject = 1; subject <= 3; ++subject) {
      Sequence* s = h.Add(Prompt(subject, 96, 10 * subject + q, 20));
      subject_of.resize(s->id + 1);
      subject_of[s->id] = subject;
    }
  }
  h.RunToCompletion();
  ASSERT_EQ(h.finished().size(), 15u);
  ASSERT_EQ(h.admitted().size(), 15u);
  // A subject's leader may start early with spare budget; its followers are
  // then admitted as one run per subject.
  std::vector<int64_t> followers;
  std::set<int> seen;
  for (int64_t id : h.admitted()) {
    if (!seen.insert(subject_of[id]).second) followers.push_back(id);
  }
  ASSERT_EQ(followers.size(), 12u);
  int switches = 0;
  for (size_t i = 1; i < followers.size(); ++i) {
    switches += subject_of[followers[i]] != subject_of[followers[i - 1]];
  }
  EXPECT_EQ(switches, 2);
}

TEST(SchedulerTest, PreemptsByRecomputeWhenThePoolIsFullAndFinishesAll) {
  // 8 usable blocks; three generators each growing to 48 tokens (3 blocks).
  SchedulerHarness h(9, {.max_batch_tokens = 256});
  std::vector<Sequence*> g;
  for (int i = 0; i < 3; ++i) {
    g.push_back(h.Add(Prompt(i + 1, 0, i, 17), Sequence::Kind::kGenerate,
                      /*gen_len=*/48));
  }
  int preempted = 0;
  int steps = 0;
  while (h.scheduler().HasWork() && steps < 1000) {
    preempted += h.Step().num_preempted;
    ++steps;
  }
  EXPECT_GT(preempted, 0);
  EXPECT_EQ(h.finished().size(), 3u);
  for (Sequence* s : g) EXPECT_EQ(s->num_tokens(), 48);
  EXPECT_EQ(h.kv().num_free_blocks(), 8);
}

TEST(SchedulerTest, SlidingWindowReleasesBlocksAsDecodeGoesOn) {
  // Window of 20: a sequence at position p needs positions >= p - 19 only.
  // 7 usable blocks; two generators growing to 100 tokens (7 blocks each)
  // finish without preemption because each holds at most 3 blocks at once.
  SchedulerHarness h(8, {.max_batch_tokens = 64, .kv_window = 20});
  Sequence* a = h.Add(Prompt(1, 0, 1, 30), Sequence::Kind::kGenerate, 100);
  Sequence* b = h.Add(Prompt(2, 0, 2, 30), Sequence::Kind::kGenerate, 100);
  int preempted = 0;
  int steps = 0;
  while (h.scheduler().HasWork() && steps < 1000) {
    preempted += h.Step().num_preempted;
    ++steps;
    for (Sequence* s : {a, b}) {
      if (s->num_computed_tokens == 0) continue;
      // Held entries: blocks from the window's first position on.
      const auto table = h.kv().BlockTable(s->id);
      const int first_needed = s->num_computed_tokens - 20 + 1;
      for (int i = 0; i < static_cast<int>(table.size()); ++i) {
        EXPECT_EQ(table[i] == 0, (i + 1) * 16 <= first_needed)
            << "sequence " << s->id << " block " << i << " at "
            << s->num_computed_tokens;
      }
    }
  }
  EXPECT_EQ(preempted, 0);
  EXPECT_EQ(h.finished().size(), 2u);
  EXPECT_EQ(a->num_tokens(), 100);
  EXPECT_GT(h.kv().num_window_released(), 0);
  EXPECT_EQ(h.kv().num_free_blocks(), 7);
}

TEST(SchedulerTest, WithoutAWindowTheSameWorkloadPreempts) {
  SchedulerHarness h(8, {.max_batch_tokens = 64});
  h.Add(Prompt(1, 0, 1, 30), Sequence::Kind::kGenerate, 100);
  h.Add(Prompt(2, 0, 2, 30), Sequence::Kind::kGenerate, 100);
  int preempted = 0;
  int steps = 0;
  while (h.scheduler().HasWork() && steps < 2000) {
    preempted += h.Step().num_preempted;
    ++steps;
  }
  EXPECT_GT(preempted, 0);
  EXPECT_EQ(h.finished().size(), 2u);
  EXPECT_EQ(h.kv().num_window_released(), 0);
}

TEST(SchedulerTest, FinishRemovesAWaitingSequence) {
  SchedulerHarness h(64, {.max_batch_tokens = 16});
  Sequence* a = h.Add(Prompt(1, 0, 1, 40));
  Sequence* b = h.Add(Prompt(2, 0, 2, 40));
  h.Step();
  EXPECT_EQ(h.scheduler().num_running(), 1);
  Sequence* waiting = a->num_computed_tokens > 0 ? b : a;
  h.scheduler().Finish(waiting);
  EXPECT_EQ(h.scheduler().num_waiting(), 0);
  EXPECT_EQ(h.scheduler().AllSequences().size(), 1u);
}

}  // namespace
}  // namespace evald::runners::native::engine
