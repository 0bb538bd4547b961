// The in-process fake's and the single rank's all-gather and reduce-scatter
// against sums computed directly. (gloo_collective_test.cc holds Gloo to
// the fake.)
#include "trainer_worker/collective.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "trainer_worker/in_process_collective.h"
#include "trainer_worker/test_examples.h"

namespace ssd {
namespace {

TEST(CollectiveTest, InProcessAllGatherPlacesEveryRanksShardAtItsChunkForOddSizesAndWorldsOneToFour) {
  for (int world : {1, 2, 3, 4}) {
    for (int64_t n : {1, 7, 1001}) {
      auto group = std::make_shared<InProcessGroup>(world);
      std::vector<at::Tensor> full(world), in_place(world);
      OnRanks(world, [&](int r) {
        InProcessCollective c(group, r);
        full[r] = at::full({world * n}, -1.0f);
        ASSERT_TRUE(c.AllGather(RankData(r, n, 1), full[r]).ok());
        in_place[r] = at::zeros({world, n});
        ChunkOf(in_place[r], r, world).copy_(RankData(r, n, 2));
        ASSERT_TRUE(c.AllGatherInPlace(in_place[r]).ok());
      });
      for (int r = 0; r < world; ++r) {
        for (int src = 0; src < world; ++src) {
          EXPECT_TRUE(at::equal(ChunkOf(full[r], src, world), RankData(src, n, 1)))
              << "world " << world << " n " << n << ": rank " << r << " chunk " << src;
          EXPECT_TRUE(at::equal(in_place[r][src], RankData(src, n, 2)))
              << "in place, world " << world << " n " << n << ": rank " << r << " chunk " << src;
        }
      }
    }
  }
}

TEST(CollectiveTest, InProcessReduceScatterGivesEachRankItsChunkOfTheSumInRankOrder) {
  for (int world : {1, 2, 3, 4}) {
    for (int64_t n : {1, 5, 999}) {
      auto group = std::make_shared<InProcessGroup>(world);
      std::vector<at::Tensor> shard(world), in_place(world);
      OnRanks(world, [&](int r) {
        InProcessCollective c(group, r);
        shard[r] = at::empty({n});
        ASSERT_TRUE(c.ReduceScatterSum(RankData(r, world * n, 3), shard[r]).ok());
        in_place[r] = RankData(r, world * n, 4);
        ASSERT_TRUE(c.ReduceScatterSumInPlace(in_place[r]).ok());
      });
      for (int r = 0; r < world; ++r) {
        at::Tensor want = ChunkOf(RankData(0, world * n, 3), r, world).clone();
        at::Tensor want_in_place = ChunkOf(RankData(0, world * n, 4), r, world).clone();
        for (int src = 1; src < world; ++src) {
          want.add_(ChunkOf(RankData(src, world * n, 3), r, world));
          want_in_place.add_(ChunkOf(RankData(src, world * n, 4), r, world));
        }
        EXPECT_TRUE(at::equal(shard[r], want)) << "world " << world << " n " << n << " rank " << r;
        EXPECT_TRUE(at::equal(ChunkOf(in_place[r], r, world), want_in_place))
            << "in place, world " << world << " n " << n << " rank " << r;
      }
    }
  }
}

TEST(CollectiveTest, SingleProcessGatherAndScatterAreCopies) {
  SingleProcessCollective c;
  at::Tensor shard = RankData(0, 9, 5), full = at::zeros({9});
  ASSERT_TRUE(c.AllGather(shard, full).ok());
  EXPECT_TRUE(at::equal(full, shard));
  at::Tensor out = at::zeros({9});
  ASSERT_TRUE(c.ReduceScatterSum(full, out).ok());
  EXPECT_TRUE(at::equal(out, shard));
}

}  // namespace
}  // namespace ssd
