// File: runners/native/engine/block_pool.h
// -----------------------------------------------------------------------------
// The pool of KV block descriptors: tensor-free bookkeeping of which physical
// block is in use, by how many sequences, and which prefix it caches.
//
//   blocks_:      [num_blocks] KvBlock, preallocated; id 0 is the null block
//                 (never handed out; a placeholder in block tables).
//   free queue:   intrusive doubly linked list of blocks with ref_cnt == 0,
//                 least recently freed at the head. Allocation pops the head
//                 and evicts its cached hash. A cached block with ref_cnt 0
//                 stays findable until it is popped (LRU eviction).
//   cached_:      BlockHash -> block, for full computed blocks.
//   active:       a pool may start with only some of its ids in use and
//                 grow or shrink by ranges of ids (ActivateBlocks /
//                 DeactivateBlocks) when its memory is shared with another
//                 model (elastic_kv.h). Inactive blocks are neither free nor
//                 referenced; they are never handed out.
//
// Callers free a sequence's blocks deepest first, so among blocks freed at
// the same moment the deepest (least shareable) are evicted first.
//
// Thread-safety: none; owned and used by the engine thread only.
#ifndef EVALD_RUNNERS_NATIVE_ENGINE_BLOCK_POOL_H_
#define EVALD_RUNNERS_NATIVE_ENGINE_BLOCK_POOL_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "runners/native/engine/block_hash.h"

namespace evald::runners::native::engine {

struct KvBlock {
  int32_t id = 0;
  int32_t ref_cnt = 0;
  std::optional<BlockHash> hash;  // set while the block is in the prefix cache
  bool active = true;             // usable (backed by memory)
  // Free-queue links; both null when the block is not in the queue.
  KvBlock* prev_free = nullptr;
  KvBlock* next_free = nullptr;
};

// Intrusive doubly linked list of free blocks (O(1) removal from the middle,
// which happens when a cached free block is hit).
class FreeBlockQueue {
 public:
  FreeBlockQueue();
  FreeBlockQueue(const FreeBlockQueue&) = delete;
  FreeBlockQueue& operator=(const FreeBlockQueue&) = delete;

  void PushBack(KvBlock* b);
  void PushFront(KvBlock* b);
  KvBlock* PopFront();      // REQUIRES: size() > 0
  void Remove(KvBlock* b);  // REQUIRES: b is in the queue
  bool Contains(const KvBlock* b) const { return b->prev_free != nullptr; }
  int size() const { return size_; }
  // Ids from head to tail (tests and debugging).
  std::vector<int32_t> IdsForTesting() const;

 private:
  KvBlock head_;  // sentinels
  KvBlock tail_;
  int size_ = 0;
};

class BlockPool {
 public:
  // Ids [0, num_blocks); the first `active_blocks` (all when <= 0) are in
  // use. REQUIRES: num_blocks >= 2 and active_blocks >= 2 when set (the null
  // block plus one usable block).
  BlockPool(int num_blocks, bool enable_caching, int active_blocks = 0);
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  // Blocks that can be handed out now (free, cached or not).
  int num_free_blocks() const { return free_.size(); }
  int num_cached_blocks() const { return static_cast<int>(cached_.size()); }
  // Ids in use, the null block included.
  int num_active_blocks() const { return num_active_; }
  bool caching_enabled() const { return enable_caching_; }
  const KvBlock* null_block() const { return &blocks_[0]; }
  const KvBlock& block(int32_t id) const { return blocks_[id]; }

  // Pops `n` blocks off the free queue (evicting their cached hashes) with
  // ref_cnt 1, or nullopt when fewer than `n` are free (nothing changes).
  std::optional<std::vector<KvBlock*>> GetNewBlocks(int n);

  // The cached block for `hash`, or nullptr.
  KvBlock* GetCachedBlock(const BlockHash& hash) const;

  // Takes a reference on each block; a block with ref_cnt 0 leaves the free
  // queue (a prefix-cache hit).
  void Touch(absl::Span<KvBlock* const> blocks);

  // Records that `block` (full and computed) holds the prefix `hash`. When
  // another block already caches that hash, this one stays uncached: it is a
  // duplicate that dies with its sequence.
  void CacheFullBlock(KvBlock* block, const BlockHash& hash);

  // Drops one reference from each block, in order; blocks reaching ref_cnt 0
  // join the free queue tail (cached ones) or head (uncached ones, which
  // hold nothing worth keeping).
  void FreeBlocks(absl::Span<KvBlock* const> blocks);

  // Puts ids [first, first + n) into use as free, uncached blocks.
  // REQUIRES: they are inactive and within num_blocks().
  void ActivateBlocks(int32_t first, int n);
  // Takes ids [first, first + n) out of use, evicting their cached
  // prefixes, when none of them is referenced; returns false and changes
  // nothing otherwise. REQUIRES: they are active and not the null block.
  bool DeactivateBlocks(int32_t first, int n);

  // Forgets every cached hash (blocks stay allocated). Returns false, doing
  // nothing, if any non-null block is still referenced.
  bool ResetPrefixCache();

 private:
  void EvictCachedHash(KvBlock* block);

  const bool enable_caching_;
  std::vector<KvBlock> blocks_;
  int num_active_ = 0;
  FreeBlockQueue free_;
  absl::flat_hash_map<BlockHash, KvBlock*> cached_;
};

}  // namespace evald::runners::native::engine

#endif  // EVALD_RUNNERS_NATIVE_ENGINE_BLOCK_POOL_H_
