#include "runners/native/engine/block_pool.h"

#include "base/logging.h"

namespace evald::runners::native::engine {

FreeBlockQueue::FreeBlockQueue() {
  head_.next_free = &tail_;
  tail_.prev_free = &head_;
}

void FreeBlockQueue::PushBack(KvBlock* b) {
  DCHECK(!Contains(b));
  KvBlock* last = tail_.prev_free;
  last->next_free = b;
  b->prev_free = last;
  b->next_free = &tail_;
  tail_.prev_free = b;
  ++size_;
}

void FreeBlockQueue::PushFront(KvBlock* b) {
  DCHECK(!Contains(b));
  KvBlock* first = head_.next_free;
  head_.next_free = b;
  b->prev_free = &head_;
  b->next_free = first;
  first->prev_free = b;
  ++size_;
}

KvBlock* FreeBlockQueue::PopFront() {
  CHECK_GT(size_, 0);
  KvBlock* b = head_.next_free;
  Remove(b);
  return b;
}

void FreeBlockQueue::Remove(KvBlock* b) {
  CHECK(Contains(b));
  b->prev_free->next_free = b->next_free;
  b->next_free->prev_free = b->prev_free;
  b->prev_free = nullptr;
  b->next_free = nullptr;
  --size_;
}

std::vector<int32_t> FreeBlockQueue::IdsForTesting() const {
  std::vector<int32_t> ids;
  for (const KvBlock* b = head_.next_free; b != &tail_; b = b->next_free)
    ids.push_back(b->id);
  return ids;
}

BlockPool::BlockPool(int num_blocks, bool enable_caching, int active_blocks)
    : enable_caching_(enable_caching), blocks_(num_blocks) {
  CHECK_GE(num_blocks, 2);
  num_active_ = active_blocks > 0 ? active_blocks : num_blocks;
  CHECK_GE(num_active_, 2);
  CHECK_LE(num_active_, num_blocks);
  for (int i = 0; i < num_blocks; ++i) {
    blocks_[i].id = i;
    blocks_[i].active = i < num_active_;
  }
  // The null block is permanently referenced so it is never handed out.
  blocks_[0].ref_cnt = 1;
  for (int i = 1; i < num_active_; ++i) free_.PushBack(&blocks_[i]);
}

void BlockPool::ActivateBlocks(int32_t first, int n) {
  CHECK(first >= 1 && n >= 0 && first + n <= num_blocks());
  for (int32_t i = first; i < first + n; ++i) {
    KvBlock& b = blocks_[i];
    CHECK(!b.active) << "kv block " << i << " is already in use";
    b.active = true;
    free_.PushFront(&b);
  }
  num_active_ += n;
}

bool BlockPool::DeactivateBlocks(int32_t first, int n) {
  CHECK(first >= 1 && n >= 0 && first + n <= num_blocks());
  for (int32_t i = first; i < first + n; ++i) {
    CHECK(blocks_[i].active) << "kv block " << i << " is not in use";
    if (blocks_[i].ref_cnt != 0) return false;
  }
  for (int32_t i = first; i < first + n; ++i) {
    KvBlock& b = blocks_[i];
    EvictCachedHash(&b);
    free_.Remove(&b);
    b.active = false;
  }
  num_active_ -= n;
  return true;
}

std::optional<std::vector<KvBlock*>> BlockPool::GetNewBlocks(int n) {
  if (n > free_.size()) return std::nullopt;
  std::vector<KvBlock*> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    KvBlock* b = free_.PopFront();
    DCHECK(b->ref_cnt == 0);
    EvictCachedHash(b);
    b->ref_cnt = 1;
    out.push_back(b);
  }
  return out;
}

KvBlock* BlockPool::GetCachedBlock(const BlockHash& hash) const {
  if (!enable_caching_) return nullptr;
  auto it = cached_.find(hash);
  return it == cached_.end() ? nullptr : it->second;
}

void BlockPool::Touch(absl::Span<KvBlock* const> blocks) {
  for (KvBlock* b : blocks) {
    if (b->ref_cnt == 0) free_.Remove(b);
    ++b->ref_cnt;
  }
}

void BlockPool::CacheFullBlock(KvBlock* block, const BlockHash& hash) {
  if (!enable_caching_ || block->hash.has_value()) return;
  auto [it, inserted] = cached_.emplace(hash, block);
  if (inserted) block->hash = hash;
}

void BlockPool::FreeBlocks(absl::Span<KvBlock* const> blocks) {
  for (KvBlock* b : blocks) {
    CHECK_GT(b->ref_cnt, 0) << "double free of kv block " << b->id;
    if (--b->ref_cnt == 0) {
      if (b->hash.has_value()) {
        free_.PushBack(b);
      } else {
        free_.PushFront(b);
      }
    }
  }
}

bool BlockPool::ResetPrefixCache() {
  for (size_t i = 1; i < blocks_.size(); ++i) {
    if (blocks_[i].ref_cnt != 0) return false;
  }
  for (auto& [hash, block] : cached_) block->hash.reset();
  cached_.clear();
  return true;
}

void BlockPool::EvictCachedHash(KvBlock* block) {
  if (!block->hash.has_value()) return;
  auto it = cached_.find(*block->hash);
  if (it != cached_.end() && it->second == block) cached_.erase(it);
  block->hash.reset();
}

}  // namespace evald::runners::native::engine
