#include "runners/native/engine/scheduler.h"

#include <algorithm>
#include <limits>

#include "base/logging.h"
#include "runners/native/model/model.h"

namespace evald::runners::native::engine {

int StepPlan::num_tokens() const {
  int n = 0;
  for (const ScheduledChunk& c : chunks) n += c.num_tokens;
  return n;
}

bool Scheduler::TokenOrder::operator()(const Sequence* a,
                                       const Sequence* b) const {
  const int c = [&] {
    const size_t n = std::min(a->tokens.size(), b->tokens.size());
    for (size_t i = 0; i < n; ++i) {
      if (a->tokens[i] != b->tokens[i])
        return a->tokens[i] < b->tokens[i] ? -1 : 1;
    }
    if (a->tokens.size() == b->tokens.size()) return 0;
    return a->tokens.size() < b->tokens.size() ? -1 : 1;
  }();
  if (c != 0) return c < 0;
  return a->id < b->id;
}

Scheduler::Scheduler(const SchedulerOptions& options, KvCacheManager* kv)
    : options_(options), kv_(kv) {
  CHECK_GT(options_.max_batch_tokens, 0);
  CHECK_GT(options_.max_num_seqs, 0);
  cursor_.id = std::numeric_limits<int64_t>::min();
}

void Scheduler::Add(Sequence* seq) { waiting_.insert(seq); }

std::vector<int> Scheduler::RowsIn(const Sequence& seq, int start, int n) {
  std::vector<int> rows;
  if (seq.kind == Sequence::Kind::kGenerate) {
    if (start + n == seq.num_tokens()) rows.push_back(n - 1);
    return rows;
  }
  auto it =
      std::lower_bound(seq.logit_rows.begin(), seq.logit_rows.end(), start);
  for (; it != seq.logit_rows.end() && *it < start + n; ++it)
    rows.push_back(*it - start);
  return rows;
}

void Scheduler::Preempt(Sequence* seq) {
  kv_->Free(seq->id);
  seq->num_computed_tokens = 0;
  ++seq->num_preemptions;
  running_.erase(std::find(running_.begin(), running_.end(), seq));
  preempted_.push_back(seq);
}

StepPlan Scheduler::Schedule() {
  StepPlan plan;
  int budget = options_.max_batch_tokens;

  // 1. Running sequences: decodes (one token left) first, then prefills.
  std::vector<Sequence*> order;
  order.reserve(running_.size());
  for (Sequence* s : running_) {
    if (s->num_uncomputed() == 1) order.push_back(s);
  }
  for (Sequence* s : running_) {
    if (s->num_uncomputed() != 1) order.push_back(s);
  }
  std::vector<Sequence*> scheduled;
  for (Sequence* seq : order) {
    if (budget == 0) break;
    if (std::find(running_.begin(), running_.end(), seq) == running_.end())
      continue;  // preempted
    const int n = std::min(seq->num_uncomputed(), budget);
    if (n <= 0) continue;
    bool self_preempted = false;
    while (!kv_->AllocateSlots(seq->id, seq->num_computed_tokens, n, {})
                .has_value()) {
      // Victim: the latest admitted running sequence not scheduled this step.
      Sequence* victim = nullptr;
      for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
        if (*it != seq && std::find(scheduled.begin(), scheduled.end(), *it) ==
                              scheduled.end()) {
          victim = *it;
          break;
        }
      }
      if (victim == nullptr) victim = seq;
      Preempt(victim);
      ++plan.num_preempted;
      if (victim == seq) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) continue;
    plan.chunks.push_back({seq, seq->num_computed_tokens, n,
                           RowsIn(*seq, seq->num_computed_tokens, n)});
    scheduled.push_back(seq);
    budget -= n;
  }
  // Admitting while preempting would only thrash.
  if (plan.num_preempted > 0) return plan;

  // 2. Admission. Blocks that running sequences are about to compute.
  absl::flat_hash_set<BlockHash> pending;
  for (const Sequence* s : running_) {
    for (size_t i = s->num_computed_tokens / model::kKvBlockSize;
         i < s->block_hashes.size(); ++i) {
      pending.insert(s->block_hashes[i]);
    }
  }
  while (!preempted_.empty() && budget > 0 &&
         static_cast<int>(running_.size()) < options_.max_num_seqs) {
    Sequence* seq = preempted_.front();
    if (Admit(seq, /*apply_leader_rule=*/false, &budget, &pending, &plan) !=
        AdmitResult::kAdmitted) {
      return plan;
    }
    preempted_.pop_front();
  }
  if (waiting_.empty()) return plan;

  // Walk the waiting set in token order from the cursor, wrapping once.
  std::vector<Sequence*> admitted;
  int skipped = 0;
  auto start = waiting_.lower_bound(&cursor_);
  auto it = start;
  bool wrapped = false;
  while (budget > 0 &&
         static_cast<int>(running_.size()) < options_.max_num_seqs) {
    if (it == waiting_.end()) {
      if (wrapped || start == waiting_.begin()) break;
      wrapped = true;
      it = waiting_.begin();
    }
    if (wrapped && it == start) break;
    Sequence* seq = *it;
    const AdmitResult r =
        Admit(seq, /*apply_leader_rule=*/true, &budget, &pending, &plan);
    if (r == AdmitResult::kNoRoom) break;
    if (r == AdmitResult::kSkipped) {
      if (++skipped >= options_.max_skipped_per_step) break;
      ++it;
      continue;
    }
    admitted.push_back(seq);
    ++it;
  }
  for (Sequence* seq : admitted) waiting_.erase(seq);
  if (!admitted.empty()) cursor_.tokens = admitted.back()->tokens;
  return plan;
}

Scheduler::AdmitResult Scheduler::Admit(Sequence* seq, bool apply_leader_rule,
                                        int* budget,
                                        absl::flat_hash_set<BlockHash>* pending,
                                        StepPlan* plan) {
  // Positions whose logits are wanted must be computed, not read from cache.
  int max_cached = seq->num_tokens() - 1;
  if (seq->kind == Sequence::Kind::kScore && !seq->logit_rows.empty()) {
    max_cached = std::min(max_cached, seq->logit_rows.front());
  }
  ComputedBlocks computed =
      kv_->GetComputedBlocks(seq->block_hashes, max_cached);
  // Under a window the first query (at computed.num_tokens) and every later
  // one read nothing before computed.num_tokens - kv_window + 1.
  if (options_.kv_window > 0) {
    computed.num_unheld =
        std::max(0, computed.num_tokens - options_.kv_window + 1) /
        model::kKvBlockSize;
  }
  const size_t m = computed.blocks.size();
  // Without a prefix cache nobody could read the leader's blocks.
  if (apply_leader_rule && kv_->caching_enabled() &&
      m < seq->block_hashes.size() && pending->contains(seq->block_hashes[m])) {
    return AdmitResult::kSkipped;
  }
  const int n = std::min(seq->num_tokens() - computed.num_tokens, *budget);
  if (!kv_->AllocateSlots(seq->id, 0, n, computed).has_value())
    return AdmitResult::kNoRoom;
  seq->num_computed_tokens = computed.num_tokens;
  if (!seq->ever_admitted) {
    seq->ever_admitted = true;
    seq->cached_prompt_tokens =
        std::min(computed.num_tokens, seq->num_prompt_tokens);
  }
  running_.push_back(seq);
  plan->chunks.push_back(
      {seq, computed.num_tokens, n, RowsIn(*seq, computed.num_tokens, n)});
  *budget -= n;
  for (size_t i = m; i < seq->block_hashes.size(); ++i)
    pending->insert(seq->block_hashes[i]);
  return AdmitResult::kAdmitted;
}

void Scheduler::OnStepComputed(const StepPlan& plan) {
  for (const ScheduledChunk& c : plan.chunks) {
    Sequence* seq = c.seq;
    seq->num_computed_tokens = c.start_pos + c.num_tokens;
    kv_->CacheBlocks(seq->id, seq->block_hashes, seq->num_computed_tokens);
    // Future queries sit at positions >= num_computed_tokens and attend to
    // [position - kv_window + 1, position].
    if (options_.kv_window > 0) {
      kv_->ReleaseBefore(seq->id,
                         seq->num_computed_tokens - options_.kv_window + 1);
    }
  }
}

void Scheduler::Finish(Sequence* seq) {
  kv_->Free(seq->id);
  auto r = std::find(running_.begin(), running_.end(), seq);
  if (r != running_.end()) {
    running_.erase(r);
    return;
  }
  auto p = std::find(preempted_.begin(), preempted_.end(), seq);
  if (p != preempted_.end()) {
    preempted_.erase(p);
    return;
  }
  waiting_.erase(seq);
}

std::vector<Sequence*> Scheduler::AllSequences() const {
  std::vector<Sequence*> all(running_.begin(), running_.end());
  all.insert(all.end(), preempted_.begin(), preempted_.end());
  all.insert(all.end(), waiting_.begin(), waiting_.end());
  return all;
}

}  // namespace evald::runners::native::engine
