#include "runners/native/engine/kv_cache_manager.h"

#include <algorithm>

#include "base/logging.h"
#include "runners/native/model/model.h"

namespace evald::runners::native::engine {

KvCacheManager::KvCacheManager(int num_blocks, bool enable_caching,
                               int active_blocks, KvGrowth* growth)
    : pool_(num_blocks, enable_caching, active_blocks), growth_(growth) {}

int KvCacheManager::BlocksFor(int num_tokens) {
  return (num_tokens + model::kKvBlockSize - 1) / model::kKvBlockSize;
}

ComputedBlocks KvCacheManager::GetComputedBlocks(
    absl::Span<const BlockHash> hashes, int max_cached_tokens) const {
  ComputedBlocks out;
  if (!pool_.caching_enabled() || max_cached_tokens <= 0) return out;
  const size_t max_blocks =
      std::min(hashes.size(),
               static_cast<size_t>(max_cached_tokens / model::kKvBlockSize));
  for (size_t i = 0; i < max_blocks; ++i) {
    KvBlock* b = pool_.GetCachedBlock(hashes[i]);
    if (b == nullptr) break;
    out.blocks.push_back(b);
  }
  out.num_tokens = static_cast<int>(out.blocks.size()) * model::kKvBlockSize;
  return out;
}

std::optional<std::vector<int32_t>> KvCacheManager::AllocateSlots(
    int64_t seq_id, int num_computed_tokens, int num_new_tokens,
    const ComputedBlocks& computed) {
  SeqBlocks* seq = nullptr;
  auto it = seqs_.find(seq_id);
  const int have =
      it == seqs_.end() ? 0 : static_cast<int>(it->second.blocks.size());
  CHECK(computed.blocks.empty() || have == 0)
      << "cached blocks can only start a block table (sequence " << seq_id
      << ")";
  const int total_tokens =
      num_computed_tokens + computed.num_tokens + num_new_tokens;
  const int need = std::max(0, BlocksFor(total_tokens) - have -
                                   static_cast<int>(computed.blocks.size()));
  const int unheld = std::clamp(computed.num_unheld, 0,
                                static_cast<int>(computed.blocks.size()));
  const absl::Span<KvBlock* const> held =
      absl::MakeConstSpan(computed.blocks).subspan(unheld);
  // Hit blocks that sit in the free queue stop being free when touched.
  int hits_in_free_queue = 0;
  for (const KvBlock* b : held) hits_in_free_queue += b->ref_cnt == 0 ? 1 : 0;
  while (need + hits_in_free_queue > pool_.num_free_blocks()) {
    if (growth_ == nullptr ||
        !growth_->Grow(need + hits_in_free_queue - pool_.num_free_blocks(),
                       &pool_)) {
      return std::nullopt;
    }
  }

  seq = &seqs_[seq_id];
  if (!computed.blocks.empty()) {
    for (int i = 0; i < unheld; ++i) {
      seq->blocks.push_back(nullptr);
      seq->ids.push_back(pool_.null_block()->id);
    }
    seq->num_released = unheld;
    pool_.Touch(held);
    for (KvBlock* b : held) {
      seq->blocks.push_back(b);
      seq->ids.push_back(b->id);
    }
    seq->num_cached_blocks = static_cast<int>(computed.blocks.size());
  }
  std::vector<int32_t> new_ids;
  if (need > 0) {
    std::optional<std::vector<KvBlock*>> fresh = pool_.GetNewBlocks(need);
    CHECK(fresh.has_value());
    for (KvBlock* b : *fresh) {
      seq->blocks.push_back(b);
      seq->ids.push_back(b->id);
      new_ids.push_back(b->id);
    }
  }
  return new_ids;
}

void KvCacheManager::CacheBlocks(int64_t seq_id,
                                 absl::Span<const BlockHash> hashes,
                                 int num_computed_tokens) {
  if (!pool_.caching_enabled()) return;
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) return;
  SeqBlocks& seq = it->second;
  const int full = std::min<int>({num_computed_tokens / model::kKvBlockSize,
                                  static_cast<int>(hashes.size()),
                                  static_cast<int>(seq.blocks.size())});
  for (int i = std::max(seq.num_cached_blocks, seq.num_released); i < full;
       ++i) {
    pool_.CacheFullBlock(seq.blocks[i], hashes[i]);
  }
  seq.num_cached_blocks = std::max(seq.num_cached_blocks, full);
}

void KvCacheManager::Free(int64_t seq_id) {
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) return;
  const SeqBlocks& seq = it->second;
  std::vector<KvBlock*> reversed(seq.blocks.rbegin(),
                                 seq.blocks.rend() - seq.num_released);
  pool_.FreeBlocks(reversed);
  seqs_.erase(it);
}

int KvCacheManager::ReleaseBefore(int64_t seq_id, int first_needed) {
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end() || first_needed <= 0) return 0;
  SeqBlocks& seq = it->second;
  const int end = std::min(first_needed / model::kKvBlockSize,
                           static_cast<int>(seq.blocks.size()));
  if (end <= seq.num_released) return 0;
  // Deepest first, as Free does: among blocks freed together the deepest
  // (least shareable) are evicted first.
  std::vector<KvBlock*> released;
  for (int i = end - 1; i >= seq.num_released; --i) {
    released.push_back(seq.blocks[i]);
    seq.blocks[i] = nullptr;
    seq.ids[i] = pool_.null_block()->id;
  }
  pool_.FreeBlocks(released);
  const int n = end - seq.num_released;
  seq.num_released = end;
  num_window_released_ += n;
  return n;
}

absl::Span<const int32_t> KvCacheManager::BlockTable(int64_t seq_id) const {
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) return {};
  return it->second.ids;
}

}  // namespace evald::runners::native::engine
