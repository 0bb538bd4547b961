#include "trainer_worker/gloo_collective.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "common/util/ports.h"
#include "trainer_worker/in_process_collective.h"
#include "trainer_worker/test_examples.h"

namespace ssd {
namespace {

GlooOptions Options(int rank, int world, int port) {
  GlooOptions o;
  o.rendezvous.rank = rank;
  o.rendezvous.world_size = world;
  o.rendezvous.master_port = port;
  o.rendezvous.store_owner = StoreOwner::kExternal;
  o.rendezvous.timeout_s = 60;
  o.bucket_bytes = 64;  // forces several buckets
  return o;
}

TEST(GlooCollectiveTest, TwoRanksSumBucketedTensorsBroadcastAndMeetAtABarrier) {
  auto server = StoreServer::Start("127.0.0.1", 60);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  EXPECT_GT(port, 0);

  std::vector<at::Tensor> results[2];
  at::Tensor broadcast[2];
  absl::Status status[2];
  auto rank_main = [&](int r) {
    auto c = GlooCollective::Connect(Options(r, 2, port));
    if (!c.ok()) {
      status[r] = c.status();
      return;
    }
    // Three tensors of 40, 8 and 100 floats: buckets of 64 bytes split them.
    std::vector<at::Tensor> t = {at::full({40}, r + 1.0f), at::arange(8, at::kFloat) * (r + 1),
                                 at::full({10, 10}, r == 0 ? 0.5f : 0.25f)};
    status[r] = (*c)->AllReduceSum(t);
    results[r] = t;
    broadcast[r] = at::full({3}, static_cast<float>(r) + 7);
    if (status[r].ok()) status[r] = (*c)->Broadcast(broadcast[r], 1);
    if (status[r].ok()) status[r] = (*c)->Barrier();
  };
  std::thread peer(rank_main, 1);
  rank_main(0);
  peer.join();
  for (int r = 0; r < 2; ++r) {
    ASSERT_TRUE(status[r].ok()) << "rank " << r << ": " << status[r];
    EXPECT_TRUE(at::equal(results[r][0], at::full({40}, 3.0f)));
    EXPECT_TRUE(at::equal(results[r][1], at::arange(8, at::kFloat) * 3));
    EXPECT_TRUE(at::equal(results[r][2], at::full({10, 10}, 0.75f)));
    EXPECT_TRUE(at::equal(broadcast[r], at::full({3}, 8.0f)));
  }
}

TEST(GlooCollectiveTest, RankZeroCanHostTheStoreItself) {
  const int port = PickFreePort().value();
  absl::Status status[2];
  at::Tensor sums[2];
  auto rank_main = [&](int r) {
    GlooOptions o = Options(r, 2, port);
    o.rendezvous.store_owner = StoreOwner::kRank0;
    auto c = GlooCollective::Connect(o);
    if (!c.ok()) {
      status[r] = c.status();
      return;
    }
    sums[r] = at::full({5}, static_cast<double>(r + 1), at::kDouble);
    status[r] = (*c)->AllReduceSum({sums[r]});
  };
  std::thread peer(rank_main, 1);
  rank_main(0);
  peer.join();
  for (int r = 0; r < 2; ++r) {
    ASSERT_TRUE(status[r].ok()) << "rank " << r << ": " << status[r];
    EXPECT_TRUE(at::equal(sums[r], at::full({5}, 3.0, at::kDouble)));
  }
}

// What each rank ends with after AllGather, AllGatherInPlace, ReduceScatterSum
// and ReduceScatterSumInPlace on the same inputs.
struct ShardedResults {
  at::Tensor gathered, gathered_in_place, scattered, scattered_in_place;
};

template <typename MakeCollective>
std::vector<ShardedResults> RunSharded(int world, int64_t n, MakeCollective make) {
  std::vector<ShardedResults> out(world);
  OnRanks(world, [&](int r) {
    std::unique_ptr<Collective> c = make(r);
    ASSERT_NE(c, nullptr);
    ShardedResults& o = out[r];
    o.gathered = at::full({world * n}, -1.0f);
    ASSERT_TRUE(c->AllGather(RankData(r, n, 1), o.gathered).ok());
    o.gathered_in_place = at::zeros({world * n});
    ChunkOf(o.gathered_in_place, r, world).copy_(RankData(r, n, 2));
    ASSERT_TRUE(c->AllGatherInPlace(o.gathered_in_place).ok());
    o.scattered = at::empty({n});
    ASSERT_TRUE(c->ReduceScatterSum(RankData(r, world * n, 3), o.scattered).ok());
    o.scattered_in_place = RankData(r, world * n, 4);
    ASSERT_TRUE(c->ReduceScatterSumInPlace(o.scattered_in_place).ok());
    o.scattered_in_place = ChunkOf(o.scattered_in_place, r, world).clone();
  });
  return out;
}

TEST(GlooCollectiveTest, AllGatherAndReduceScatterMatchTheInProcessFakeForOddSizesAndWorldsOneToFour) {
  for (int world : {1, 2, 3, 4}) {
    for (int64_t n : {1, 7, 4099}) {
      auto server = StoreServer::Start("127.0.0.1", 60);
      ASSERT_TRUE(server.ok()) << server.status();
      const int port = (*server)->port();
      std::vector<ShardedResults> gloo = RunSharded(world, n, [&](int r) -> std::unique_ptr<Collective> {
        auto c = GlooCollective::Connect(Options(r, world, port));
        EXPECT_TRUE(c.ok()) << c.status();
        return c.ok() ? std::move(*c) : nullptr;
      });
      auto group = std::make_shared<InProcessGroup>(world);
      std::vector<ShardedResults> fake = RunSharded(world, n, [&](int r) -> std::unique_ptr<Collective> {
        return std::make_unique<InProcessCollective>(group, r);
      });
      for (int r = 0; r < world; ++r) {
        const std::string where =
            "world " + std::to_string(world) + ", n " + std::to_string(n) + ", rank " + std::to_string(r);
        EXPECT_TRUE(at::equal(gloo[r].gathered, fake[r].gathered)) << where;
        EXPECT_TRUE(at::equal(gloo[r].gathered_in_place, fake[r].gathered_in_place)) << where;
        // Sums of up to four addends in another order: a few ulps.
        EXPECT_TRUE(at::allclose(gloo[r].scattered, fake[r].scattered, 1e-6, 1e-6)) << where;
        EXPECT_TRUE(at::allclose(gloo[r].scattered_in_place, fake[r].scattered_in_place, 1e-6, 1e-6)) << where;
      }
    }
  }
}

TEST(GlooCollectiveTest, Bf16AllGatherIsExact) {
  // Sharded training gathers bf16 parameters (--param-dtype bf16), a dtype
  // this Gloo has no kernels for: it travels as bytes.
  auto server = StoreServer::Start("127.0.0.1", 60);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  const int64_t n = 1001;
  std::vector<at::Tensor> full(3);
  OnRanks(3, [&](int r) {
    auto c = GlooCollective::Connect(Options(r, 3, port));
    ASSERT_TRUE(c.ok()) << c.status();
    full[r] = at::zeros({3 * n}, at::kBFloat16);
    ASSERT_TRUE((*c)->AllGather(RankData(r, n, 5).to(at::kBFloat16), full[r]).ok());
  });
  for (int r = 0; r < 3; ++r) {
    for (int src = 0; src < 3; ++src) {
      EXPECT_TRUE(at::equal(ChunkOf(full[r], src, 3), RankData(src, n, 5).to(at::kBFloat16)))
          << "rank " << r << " chunk " << src;
    }
  }
}

TEST(GlooCollectiveTest, AnOutOfRangeRankIsRejectedBeforeConnecting) {
  auto c = GlooCollective::Connect(Options(2, 2, 1234));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("rank: 2 is outside [0, 2)"), std::string::npos) << c.status();
}

}  // namespace
}  // namespace ssd
