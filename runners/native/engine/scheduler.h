// File: runners/native/engine/scheduler.h
// -----------------------------------------------------------------------------
// Continuous batching under a token budget with chunked prefill, on top of
// the KvCacheManager (Scheduler -> KvCacheManager -> BlockPool).
//
// One step (Schedule):
//   1. Running sequences, decodes first, then unfinished prefills, each gets
//      min(remaining tokens, budget left). When the pool has no room, the
//      most recently admitted running sequence is preempted by recompute:
//      its blocks are freed (full ones stay in the prefix cache, so the
//      recompute is mostly cache hits) and it waits again, ahead of all
//      others.
//   2. Admission of waiting sequences while budget and room remain, in
//      cache-aware order:
//        - waiting sequences are kept sorted by their tokens, which is a
//          depth-first walk of their prefix trie: requests sharing a prefix
//          are adjacent, and the deeper the shared prefix, the closer;
//        - the walk resumes where the last admission left off, so the group
//          whose prefix is hot in the cache goes on before another starts;
//        - one leader per uncached shared prefix: a candidate whose next
//          uncached block is being computed by a running sequence is
//          skipped until that block is cached, so a 5-shot header is
//          computed once and then read by every question that shares it.
//
// Thread-safety: none; engine thread only.
#ifndef EVALD_RUNNERS_NATIVE_ENGINE_SCHEDULER_H_
#define EVALD_RUNNERS_NATIVE_ENGINE_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <set>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/types/span.h"
#include "runners/native/engine/kv_cache_manager.h"
#include "runners/native/engine/sequence.h"

namespace evald::runners::native::engine {

struct SchedulerOptions {
  // Tokens (prefill chunks + decodes) in one step.
  int max_batch_tokens = 2048;
  // Sequences running at once.
  int max_num_seqs = 256;
  // Waiting sequences skipped by the leader rule before admission stops for
  // the step (bounds the per-step scan).
  int max_skipped_per_step = 512;
  // > 0: every attention layer sees only the `kv_window` most recent
  // positions, so after each step a sequence's blocks wholly before the
  // window of its next position are released (KvCacheManager::
  // ReleaseBefore). 0: every block stays until the sequence finishes.
  int kv_window = 0;
};

struct ScheduledChunk {
  Sequence* seq = nullptr;
  int start_pos = 0;  // first position computed in this step
  int num_tokens = 0;
  std::vector<int>
      logit_rows;  // rows (0-based in the chunk) whose logits are needed
};

struct StepPlan {
  std::vector<ScheduledChunk> chunks;
  int num_preempted = 0;
  int num_tokens() const;
};

class Scheduler {
 public:
  // `kv` is borrowed and must outlive the scheduler.
  Scheduler(const SchedulerOptions& options, KvCacheManager* kv);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a new sequence. REQUIRES: seq->block_hashes covers its full
  // blocks, seq lives until Finish(seq).
  void Add(Sequence* seq);

  StepPlan Schedule();

  // After the step's forward: advances the scheduled sequences, publishes
  // their newly full blocks in the prefix cache, then (with kv_window)
  // releases the blocks no future query of theirs reads. A generate
  // sequence that grew meanwhile must have extended its block_hashes first.
  void OnStepComputed(const StepPlan& plan);

  // Removes a sequence (finished, failed or cancelled) and frees its blocks.
  void Finish(Sequence* seq);

  bool HasWork() const {
    return !running_.empty() || !waiting_.empty() || !preempted_.empty();
  }
  int num_running() const { return static_cast<int>(running_.size()); }
  int num_waiting() const {
    return static_cast<int>(waiting_.size() + preempted_.size());
  }
  // Running and waiting sequences (for cancellation sweeps).
  std::vector<Sequence*> AllSequences() const;

 private:
  struct TokenOrder {
    using is_transparent = void;
    bool operator()(const Sequence* a, const Sequence* b) const;
  };

  static std::vector<int> RowsIn(const Sequence& seq, int start, int n);
  void Preempt(Sequence* seq);
  enum class AdmitResult { kAdmitted, kSkipped, kNoRoom };
  AdmitResult Admit(Sequence* seq, bool apply_leader_rule, int* budget,
                    absl::flat_hash_set<BlockHash>* pending, StepPlan* plan);

  const SchedulerOptions options_;
  KvCacheManager* const kv_;
  std::vector<Sequence*> running_;   // admission order
  std::deque<Sequence*> preempted_;  // readmitted first, oldest first
  std::set<Sequence*, TokenOrder> waiting_;
  Sequence cursor_;  // tokens of the last admission
};

}  // namespace evald::runners::native::engine

#endif  // EVALD_RUNNERS_NATIVE_ENGINE_SCHEDULER_H_
