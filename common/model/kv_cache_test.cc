#include "common/model/kv_cache.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/model/test_models.h"

namespace ssd {
namespace {

KVCache MakeCache(int64_t blocks, int64_t seqs, int64_t block_size = 4) {
  KVCacheOptions o;
  o.block_size = block_size;
  o.num_blocks = blocks;
  o.max_seqs = seqs;
  return KVCache(TinyConfig(ModelArch::kQwen3), o, at::kFloat, at::kCPU);
}

TEST(KVCacheTest, PoolHasTheRequestedShapeAndBytes) {
  KVCache c = MakeCache(10, 2);
  const ModelConfig cfg = TinyConfig(ModelArch::kQwen3);
  EXPECT_EQ(c.keys(0).sizes(), (at::IntArrayRef{10, cfg.num_key_value_heads, 4, cfg.head_dim}));
  EXPECT_EQ(c.bytes(), 10 * KVCache::BytesPerBlock(cfg, 4, at::kFloat));
}

TEST(KVCacheTest, ReserveAllocatesOnlyWhatTheLengthNeedsAndFailsWithoutSideEffects) {
  KVCache c = MakeCache(5, 2);
  EXPECT_TRUE(c.Reserve(0, 9));  // 3 blocks
  EXPECT_EQ(c.block_table(0).size(), 3u);
  EXPECT_EQ(c.free_blocks(), 2);
  EXPECT_FALSE(c.Reserve(1, 12));  // needs 3, only 2 free
  EXPECT_TRUE(c.block_table(1).empty());
  EXPECT_EQ(c.free_blocks(), 2);
  EXPECT_TRUE(c.Reserve(1, 8));
  EXPECT_EQ(c.free_blocks(), 0);
  EXPECT_EQ(c.peak_used_blocks(), 5);
  c.Release(0);
  EXPECT_EQ(c.free_blocks(), 3);
  EXPECT_EQ(c.length(0), 0);
}

TEST(KVCacheTest, ForkSharesFullBlocksAndFreesThemWithTheLastUser) {
  KVCache c = MakeCache(8, 3);
  ASSERT_TRUE(c.Reserve(0, 6));
  c.Advance({0}, {6});  // one full block + a partial one
  c.keys(0).fill_(0);
  c.keys(0)[c.block_table(0)[1]].fill_(3.0);
  ASSERT_TRUE(c.Fork(0, 1));
  EXPECT_EQ(c.length(1), 6);
  EXPECT_EQ(c.block_table(1)[0], c.block_table(0)[0]);
  EXPECT_NE(c.block_table(1)[1], c.block_table(0)[1]);
  EXPECT_TRUE(at::equal(c.keys(0)[c.block_table(1)[1]], c.keys(0)[c.block_table(0)[1]]));
  EXPECT_EQ(c.used_blocks(), 3);
  c.Release(0);
  EXPECT_EQ(c.used_blocks(), 2);  // the shared block lives on in seq 1
  c.Release(1);
  EXPECT_EQ(c.used_blocks(), 0);
}

TEST(KVCacheTest, ForkOfBlockAlignedSequenceNeedsNoFreeBlock) {
  KVCache c = MakeCache(2, 2);
  ASSERT_TRUE(c.Reserve(0, 8));
  c.Advance({0}, {8});
  EXPECT_TRUE(c.Fork(0, 1));
  EXPECT_EQ(c.used_blocks(), 2);
}

TEST(KVCacheTest, GrowPoolKeepsContentsAndTables) {
  KVCache c = MakeCache(2, 1);
  ASSERT_TRUE(c.Reserve(0, 8));
  c.values(1)[1].fill_(7.0);
  c.GrowPool(6);
  EXPECT_EQ(c.num_blocks(), 6);
  EXPECT_EQ(c.free_blocks(), 4);
  EXPECT_TRUE(at::all(c.values(1)[1] == 7.0).item<bool>());
}

TEST(KVCacheDeathTest, WritingPastReservedBlocksCrashes) {
  KVCache c = MakeCache(4, 1);
  ASSERT_TRUE(c.Reserve(0, 4));
  EXPECT_DEATH(c.Advance({0}, {5}), "past its reserved blocks");
}

}  // namespace
}  // namespace ssd
