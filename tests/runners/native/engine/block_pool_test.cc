#include "runners/native/engine/block_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "runners/native/engine/block_hash.h"
#include "runners/native/engine/kv_cache_manager.h"
#include "runners/native/model/model.h"

namespace evald::runners::native::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<int32_t> Tokens(int n, int32_t first = 0) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

std::vector<BlockHash> Hashes(const std::vector<int32_t>& tokens,
                              absl::string_view model = "m") {
  std::vector<BlockHash> h;
  ExtendBlockHashes(RootBlockHash(model), tokens, &h);
  return h;
}

TEST(BlockHashTest, ChainCoversWholePrefixAndModel) {
  std::vector<int32_t> a = Tokens(48);
  std::vector<int32_t> b = a;
  b[3] = 999;  // differs in block 0 only
  const auto ha = Hashes(a);
  const auto hb = Hashes(b);
  ASSERT_EQ(ha.size(), 3u);
  // A change in block 0 changes every later block's hash.
  for (int i = 0; i < 3; ++i) EXPECT_NE(ha[i], hb[i]) << i;
  // Same tokens, same hashes; another model, other hashes.
  EXPECT_EQ(Hashes(a), ha);
  EXPECT_NE(Hashes(a, "other")[0], ha[0]);
  // Only full blocks are hashed, and extending is incremental.
  std::vector<BlockHash> h;
  ExtendBlockHashes(RootBlockHash("m"), absl::MakeConstSpan(a).subspan(0, 31),
                    &h);
  EXPECT_EQ(h.size(), 1u);
  ExtendBlockHashes(RootBlockHash("m"), a, &h);
  EXPECT_EQ(h, ha);
}

TEST(FreeBlockQueueTest, RemoveFromMiddleKeepsOrder) {
  std::vector<KvBlock> blocks(5);
  FreeBlockQueue q;
  for (int i = 0; i < 5; ++i) {
    blocks[i].id = i;
    q.PushBack(&blocks[i]);
  }
  q.Remove(&blocks[2]);
  q.PushFront(&blocks[2]);
  EXPECT_THAT(q.IdsForTesting(), ElementsAre(2, 0, 1, 3, 4));
  EXPECT_EQ(q.PopFront()->id, 2);
  q.Remove(&blocks[4]);
  EXPECT_THAT(q.IdsForTesting(), ElementsAre(0, 1, 3));
  EXPECT_EQ(q.size(), 3);
  EXPECT_FALSE(q.Contains(&blocks[4]));
}

TEST(BlockPoolTest, NullBlockIsNeverHandedOut) {
  BlockPool pool(4, /*enable_caching=*/true);
  EXPECT_EQ(pool.num_free_blocks(), 3);
  auto got = pool.GetNewBlocks(3);
  ASSERT_TRUE(got.has_value());
  for (KvBlock* b : *got) EXPECT_NE(b->id, 0);
  // No room is a value, and nothing changes.
  EXPECT_FALSE(pool.GetNewBlocks(1).has_value());
  pool.FreeBlocks(*got);
  EXPECT_EQ(pool.num_free_blocks(), 3);
}

TEST(BlockPoolTest, CachedFreeBlocksAreEvictedLruAndHitsLeaveTheQueue) {
  BlockPool pool(4, /*enable_caching=*/true);
  auto got = *pool.GetNewBlocks(3);
  const BlockHash h1{1, 1}, h2{2, 2}, h3{3, 3};
  pool.CacheFullBlock(got[0], h1);
  pool.CacheFullBlock(got[1], h2);
  pool.CacheFullBlock(got[2], h3);
  pool.FreeBlocks({got[2], got[1], got[0]});  // deepest first
  EXPECT_EQ(pool.num_cached_blocks(), 3);
  // A hit takes the block out of the free queue.
  KvBlock* hit = pool.GetCachedBlock(h1);
  ASSERT_NE(hit, nullptr);
  pool.Touch({hit});
  EXPECT_EQ(hit->ref_cnt, 1);
  EXPECT_EQ(pool.num_free_blocks(), 2);
  // Allocation evicts the least recently freed (the deepest) first.
  auto one = *pool.GetNewBlocks(1);
  EXPECT_EQ(one[0], got[2]);
  EXPECT_EQ(pool.GetCachedBlock(h3), nullptr);
  EXPECT_NE(pool.GetCachedBlock(h2), nullptr);
}

TEST(BlockPoolTest, DuplicateHashStaysUncachedAndIsReusedFirst) {
  BlockPool pool(4, /*enable_caching=*/true);
  auto got = *pool.GetNewBlocks(3);
  const BlockHash h{7, 7};
  pool.CacheFullBlock(got[0], h);
  pool.CacheFullBlock(got[1], h);
  EXPECT_EQ(pool.GetCachedBlock(h), got[0]);
  EXPECT_FALSE(got[1]->hash.has_value());
  pool.FreeBlocks({got[0]});
  pool.FreeBlocks({got[1]});
  // The uncached duplicate is handed out before the cached block.
  EXPECT_EQ((*pool.GetNewBlocks(1))[0], got[1]);
  EXPECT_EQ(pool.GetCachedBlock(h), got[0]);
}

TEST(BlockPoolTest, CachingDisabledNeverHits) {
  BlockPool pool(3, /*enable_caching=*/false);
  auto got = *pool.GetNewBlocks(1);
  pool.CacheFullBlock(got[0], BlockHash{1, 2});
  EXPECT_EQ(pool.GetCachedBlock(BlockHash{1, 2}), nullptr);
}

TEST(KvCacheManagerTest, LongestPrefixLeavesOneTokenToCompute) {
  KvCacheManager kv(16, /*enable_caching=*/true);
  const std::vector<int32_t> a = Tokens(48);  // exactly 3 blocks
  const auto ha = Hashes(a);
  ASSERT_TRUE(kv.AllocateSlots(1, 0, 48, {}).has_value());
  EXPECT_EQ(kv.BlockTable(1).size(), 3u);
  kv.CacheBlocks(1, ha, 48);
  // Same prompt: only 2 of 3 blocks are reused, the last is recomputed.
  ComputedBlocks c = kv.GetComputedBlocks(ha, 47);
  EXPECT_EQ(c.num_tokens, 32);
  // A cap below the blocks' end (a scored position inside them) cuts the hit.
  EXPECT_EQ(kv.GetComputedBlocks(ha, 31).num_tokens, 16);
  // A longer prompt sharing all 3 blocks reuses them all.
  std::vector<int32_t> b = Tokens(50);
  const auto hb = Hashes(b);
  c = kv.GetComputedBlocks(hb, 49);
  EXPECT_EQ(c.num_tokens, 48);
  auto fresh = kv.AllocateSlots(2, 0, 2, c);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(fresh->size(), 1u);
  // Shared blocks are ref-counted: the block tables start alike.
  auto t1 = kv.BlockTable(1);
  auto t2 = kv.BlockTable(2);
  ASSERT_EQ(t2.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(t1[i], t2[i]);
  EXPECT_EQ(kv.pool().block(t1[0]).ref_cnt, 2);
  // A prompt diverging in block 1 shares block 0 only.
  std::vector<int32_t> d = Tokens(40);
  d[20] = 1000;
  EXPECT_EQ(kv.GetComputedBlocks(Hashes(d), 39).num_tokens, 16);
  kv.Free(1);
  kv.Free(2);
  EXPECT_EQ(kv.num_free_blocks(), 15);
  // Freed cached blocks are still hits.
  EXPECT_EQ(kv.GetComputedBlocks(hb, 49).num_tokens, 48);
}

TEST(KvCacheManagerTest, NoRoomIsNulloptAndChangesNothing) {
  KvCacheManager kv(4, /*enable_caching=*/true);  // 3 usable blocks
  ASSERT_TRUE(kv.AllocateSlots(1, 0, 40, {}).has_value());
  EXPECT_EQ(kv.num_free_blocks(), 0);
  EXPECT_FALSE(kv.AllocateSlots(2, 0, 1, {}).has_value());
  EXPECT_THAT(kv.BlockTable(2), IsEmpty());
  // Growing within the last block needs no new block.
  EXPECT_TRUE(kv.AllocateSlots(1, 40, 8, {}).has_value());
  EXPECT_FALSE(kv.AllocateSlots(1, 48, 1, {}).has_value());
  EXPECT_EQ(kv.BlockTable(1).size(), 3u);
}

TEST(KvCacheManagerTest, HitsOnFreeBlocksCountAgainstRoom) {
  KvCacheManager kv(4, /*enable_caching=*/true);  // 3 usable blocks
  const auto tokens = Tokens(33);
  const auto h = Hashes(tokens);
  ASSERT_TRUE(kv.AllocateSlots(1, 0, 33, {}).has_value());
  kv.CacheBlocks(1, h, 33);
  kv.Free(1);
  // 2 cached free blocks are hits; the third block must come from the pool.
  ComputedBlocks c = kv.GetComputedBlocks(h, 32);
  ASSERT_EQ(c.num_tokens, 32);
  auto fresh = kv.AllocateSlots(2, 0, 1, c);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(kv.num_free_blocks(), 0);
  // The fresh block is not one of the hits.
  for (KvBlock* b : c.blocks) EXPECT_NE(b->id, (*fresh)[0]);
}

TEST(KvCacheManagerTest, FreeEnqueuesDeepestFirstSoDeepBlocksAreEvictedFirst) {
  KvCacheManager kv(5, /*enable_caching=*/true);  // 4 usable
  const auto a = Tokens(64);
  const auto h = Hashes(a);
  ASSERT_TRUE(kv.AllocateSlots(1, 0, 64, {}).has_value());
  kv.CacheBlocks(1, h, 64);
  kv.Free(1);
  // Another request takes 2 fresh blocks: the 2 deepest of the chain go.
  ASSERT_TRUE(kv.AllocateSlots(2, 0, 32, {}).has_value());
  std::vector<int32_t> probe = a;
  probe.push_back(1);
  EXPECT_EQ(kv.GetComputedBlocks(Hashes(probe), 64).num_tokens, 32);
}

TEST(KvCacheManagerTest, CachingDisabledReturnsNoHits) {
  KvCacheManager kv(8, /*enable_caching=*/false);
  const auto a = Tokens(40);
  ASSERT_TRUE(kv.AllocateSlots(1, 0, 40, {}).has_value());
  kv.CacheBlocks(1, Hashes(a), 40);
  EXPECT_EQ(kv.GetComputedBlocks(Hashes(a), 39).num_tokens, 0);
}

TEST(KvCacheManagerTest, ReleaseBeforeFreesWholeBlocksAndKeepsTableLength) {
  KvCacheManager kv(16, /*enable_caching=*/true);  // 15 usable
  const auto a = Tokens(70);                       // 5 blocks
  const auto h = Hashes(a);
  ASSERT_TRUE(kv.AllocateSlots(1, 0, 70, {}).has_value());
  kv.CacheBlocks(1, h, 70);
  const std::vector<int32_t> before(kv.BlockTable(1).begin(),
                                    kv.BlockTable(1).end());
  EXPECT_EQ(kv.num_free_blocks(), 10);
  // Position 47 is still needed: only blocks 0 and 1 ([0, 32)) lie wholly
  // before it.
  EXPECT_EQ(kv.ReleaseBefore(1, 47), 2);
  EXPECT_EQ(kv.num_free_blocks(), 12);
  EXPECT_THAT(kv.BlockTable(1),
              ElementsAre(0, 0, before[2], before[3], before[4]));
  // Nothing more to release at the same point, or before it.
  EXPECT_EQ(kv.ReleaseBefore(1, 47), 0);
  EXPECT_EQ(kv.ReleaseBefore(1, 20), 0);
  EXPECT_EQ(kv.ReleaseBefore(1, 48), 1);
  EXPECT_EQ(kv.num_window_released(), 3);
  // The released blocks were cached: still prefix-cache hits for others.
  EXPECT_EQ(kv.GetComputedBlocks(h, 69).num_tokens, 64);
  // Growing still appends after the released entries.
  auto fresh = kv.AllocateSlots(1, 70, 20, {});
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(fresh->size(), 1u);
  EXPECT_EQ(kv.BlockTable(1).size(), 6u);
  // Free releases the rest once: every usable block is free again.
  kv.Free(1);
  EXPECT_EQ(kv.num_free_blocks(), 15);
}

TEST(KvCacheManagerTest, ReleasingASharedPrefixLeavesItToTheOtherSequence) {
  KvCacheManager kv(16, /*enable_caching=*/true);
  const auto a = Tokens(50);
  const auto h = Hashes(a);
  ASSERT_TRUE(kv.AllocateSlots(1, 0, 50, {}).has_value());
  kv.CacheBlocks(1, h, 50);
  ComputedBlocks c = kv.GetComputedBlocks(h, 49);
  ASSERT_EQ(c.num_tokens, 48);
  ASSERT_TRUE(kv.AllocateSlots(2, 0, 2, c).has_value());
  const int32_t shared = kv.BlockTable(2)[0];
  const int free_before = kv.num_free_blocks();
  // Sequence 1 drops blocks 0-2; sequence 2 still holds them.
  EXPECT_EQ(kv.ReleaseBefore(1, 48), 3);
  EXPECT_EQ(kv.num_free_blocks(), free_before);
  EXPECT_EQ(kv.pool().block(shared).ref_cnt, 1);
  EXPECT_EQ(kv.BlockTable(2)[0], shared);
  kv.Free(2);
  kv.Free(1);
  EXPECT_EQ(kv.num_free_blocks(), 15);
}

TEST(KvCacheManagerTest, UnheldLeadingHitsAreNeitherTakenNorCounted) {
  KvCacheManager kv(16, /*enable_caching=*/true);  // 15 usable
  const auto a = Tokens(80);                       // 5 blocks
  const auto h = Hashes(a);
  ASSERT_TRUE(kv.AllocateSlots(1, 0, 80, {}).has_value());
  kv.CacheBlocks(1, h, 80);
  kv.Free(1);
  ASSERT_EQ(kv.num_free_blocks(), 15);
  ComputedBlocks c = kv.GetComputedBlocks(h, 79);
  ASSERT_EQ(c.num_tokens, 64);
  const int32_t third = c.blocks[2]->id;
  c.num_unheld = 2;  // blocks 0 and 1 lie before the window
  auto fresh = kv.AllocateSlots(2, 0, 16, c);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(fresh->size(), 1u);
  const auto table = kv.BlockTable(2);
  ASSERT_EQ(table.size(), 5u);
  EXPECT_EQ(table[0], 0);
  EXPECT_EQ(table[1], 0);
  EXPECT_EQ(table[2], third);
  // Two hits taken from the free queue and one fresh block: 12 free.
  EXPECT_EQ(kv.num_free_blocks(), 12);
  // The unheld blocks stay cached for others.
  EXPECT_EQ(kv.GetComputedBlocks(h, 79).num_tokens, 64);
  kv.Free(2);
  EXPECT_EQ(kv.num_free_blocks(), 15);
}

TEST(KvCacheManagerTest, ReleasedBlocksAreNotPublishedLater) {
  // Caching a sequence whose leading blocks were released before it was
  // published skips them (they are not the sequence's any more).
  KvCacheManager kv(16, /*enable_caching=*/true);
  const auto a = Tokens(64);
  const auto h = Hashes(a);
  ASSERT_TRUE(kv.AllocateSlots(1, 0, 64, {}).has_value());
  EXPECT_EQ(kv.ReleaseBefore(1, 33), 2);
  kv.CacheBlocks(1, h, 64);
  EXPECT_EQ(kv.GetComputedBlocks(h, 63).num_tokens, 0);
  EXPECT_EQ(kv.pool().num_cached_blocks(), 2);
  kv.Free(1);
  EXPECT_EQ(kv.num_free_blocks(), 15);
}

}  // namespace
}  // namespace evald::runners::native::engine
