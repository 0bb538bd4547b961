#include "trainer_worker/gloo_collective.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <thread>

#include "common/util/ports.h"

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

TEST(GlooCollectiveTest, AnOutOfRangeRankIsRejectedBeforeConnecting) {
  auto c = GlooCollective::Connect(Options(2, 2, 1234));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("rank: 2 is outside [0, 2)"), std::string::npos) << c.status();
}

}  // namespace
}  // namespace ssd
