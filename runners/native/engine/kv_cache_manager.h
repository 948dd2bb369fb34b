// File: runners/native/engine/kv_cache_manager.h
// -----------------------------------------------------------------------------
// Per-sequence block tables on top of the BlockPool, and the prefix-cache
// policy: which leading blocks of a prompt are already computed, when a
// sequence's new full blocks become shareable, and what is freed when.
//
// A block table is append-only: block i holds positions [16 i, 16 i + 16).
// Cached blocks are shared read-only (ref-counted); a sequence only ever
// writes into blocks past its cached prefix, which it owns alone. Under
// sliding-window attention the leading blocks no future query reads are
// released (ReleaseBefore): their entries become the null block, and the
// table keeps its length so block i still holds positions [16 i, 16 i + 16).
//
// "No room" is a value (std::nullopt), never an error: the scheduler reacts
// by preempting or by not admitting.
//
// Thread-safety: none; owned and used by the engine thread only.
#ifndef EVALD_RUNNERS_NATIVE_ENGINE_KV_CACHE_MANAGER_H_
#define EVALD_RUNNERS_NATIVE_ENGINE_KV_CACHE_MANAGER_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "runners/native/engine/block_hash.h"
#include "runners/native/engine/block_pool.h"

namespace evald::runners::native::engine {

// More blocks for a pool that runs short (elastic_kv.h): Grow makes some of
// the pool's inactive ids usable through BlockPool::ActivateBlocks.
class KvGrowth {
 public:
  virtual ~KvGrowth() = default;
  // The pool lacks `short_blocks` free blocks for an allocation. Returns
  // false when it could add none.
  virtual bool Grow(int short_blocks, BlockPool* pool) = 0;
};

// A prefix-cache hit: the leading computed blocks of a prompt.
struct ComputedBlocks {
  std::vector<KvBlock*> blocks;
  int num_tokens = 0;  // blocks.size() * kKvBlockSize
  // Sliding-window attention: how many leading blocks of the hit the
  // sequence does not take (none of its queries reads them); AllocateSlots
  // enters them as already released. Set by the caller.
  int num_unheld = 0;
};

class KvCacheManager {
 public:
  // `num_blocks` includes the null block. With `active_blocks` > 0 only
  // that many ids start in use and `growth` (borrowed, may be null) is asked
  // for more when an allocation runs short.
  KvCacheManager(int num_blocks, bool enable_caching, int active_blocks = 0,
                 KvGrowth* growth = nullptr);
  KvCacheManager(const KvCacheManager&) = delete;
  KvCacheManager& operator=(const KvCacheManager&) = delete;

  // The longest run of cached blocks at the start of a sequence whose
  // full-block hashes are `hashes`, covering at most `max_cached_tokens`
  // tokens. Callers pass at most (tokens - 1) and at most the first position
  // whose logits they need: those positions must be computed, so a fully
  // cached, block-aligned prompt still recomputes its last block.
  ComputedBlocks GetComputedBlocks(absl::Span<const BlockHash> hashes,
                                   int max_cached_tokens) const;

  // Makes room for `num_new_tokens` more positions of sequence `seq_id`,
  // first taking `computed` (from GetComputedBlocks; only on the sequence's
  // first allocation). Returns the ids of the newly allocated blocks, or
  // nullopt when the pool cannot supply them (nothing changes then).
  // `num_computed_tokens` is what the sequence has computed before this call
  // (excluding `computed`).
  std::optional<std::vector<int32_t>> AllocateSlots(
      int64_t seq_id, int num_computed_tokens, int num_new_tokens,
      const ComputedBlocks& computed);

  // Publishes the sequence's full blocks among its first `num_computed_tokens`
  // positions in the prefix cache. REQUIRES: hashes covers those blocks.
  void CacheBlocks(int64_t seq_id, absl::Span<const BlockHash> hashes,
                   int num_computed_tokens);

  // Releases every block of the sequence, deepest first.
  void Free(int64_t seq_id);

  // Sliding-window attention: releases the sequence's blocks that lie wholly
  // before position `first_needed` (the first position any of its future
  // queries attends to). Their table entries become the null block (id 0),
  // which the model never reads there. A released block that is in the
  // prefix cache stays there for other sequences until evicted; one shared
  // with another sequence stays allocated to it. Returns how many blocks
  // were released by this call.
  int ReleaseBefore(int64_t seq_id, int first_needed);

  // The sequence's block table (empty if it holds none). Valid until the
  // next call that changes that sequence.
  absl::Span<const int32_t> BlockTable(int64_t seq_id) const;

  // Blocks a sequence of `num_tokens` tokens needs.
  static int BlocksFor(int num_tokens);

  int num_free_blocks() const { return pool_.num_free_blocks(); }
  // Blocks released by ReleaseBefore since construction.
  int64_t num_window_released() const { return num_window_released_; }
  int num_usable_blocks() const { return pool_.num_blocks() - 1; }
  bool caching_enabled() const { return pool_.caching_enabled(); }
  const BlockPool& pool() const { return pool_; }
  BlockPool* mutable_pool() { return &pool_; }
  bool ResetPrefixCache() { return pool_.ResetPrefixCache(); }

 private:
  struct SeqBlocks {
    std::vector<KvBlock*> blocks;
    std::vector<int32_t> ids;
    int num_cached_blocks = 0;  // leading blocks already published
    int num_released = 0;       // leading entries now the null block
  };

  BlockPool pool_;
  KvGrowth* const growth_;
  int64_t num_window_released_ = 0;
  absl::flat_hash_map<int64_t, SeqBlocks> seqs_;
};

}  // namespace evald::runners::native::engine

#endif  // EVALD_RUNNERS_NATIVE_ENGINE_KV_CACHE_MANAGER_H_
