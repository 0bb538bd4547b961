// GPU-only (LABELS gpu; built when CMake enables CUDA). Needs a CUDA-enabled
// libtorch and a visible device; skips otherwise.
#include "trainer_worker/nccl_collective.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "trainer_worker/rendezvous.h"

namespace ssd {
namespace {

TEST(NcclCollectiveTest, SingleRankAllReduceLeavesBucketedTensorsIntactAndBarrierReturns) {
  ASSERT_TRUE(NcclCompiledIn());
  if (!at::hasCUDA()) GTEST_SKIP() << "this libtorch has no CUDA or no device is visible";
  auto store = StoreServer::Start("127.0.0.1", 60);
  ASSERT_TRUE(store.ok()) << store.status();
  NcclOptions o;
  o.rendezvous.master_port = (*store)->port();
  o.rendezvous.store_owner = StoreOwner::kExternal;
  o.bucket_bytes = 64;
  auto c = ConnectNccl(o);
  ASSERT_TRUE(c.ok()) << c.status();
  const auto cuda = at::TensorOptions().device(at::kCUDA).dtype(at::kFloat);
  std::vector<at::Tensor> t = {at::arange(40, cuda), at::full({10, 10}, 0.5, cuda)};
  ASSERT_TRUE((*c)->AllReduceSum(t).ok());
  EXPECT_TRUE(at::equal(t[0].cpu(), at::arange(40, at::kFloat)));
  EXPECT_TRUE(at::equal(t[1].cpu(), at::full({10, 10}, 0.5f)));
  at::Tensor host = at::tensor({1.0, 2.0}, at::kDouble);  // staged through the device
  ASSERT_TRUE((*c)->AllReduceSum({host}).ok());
  EXPECT_EQ(host[1].item<double>(), 2.0);
  EXPECT_TRUE((*c)->Barrier().ok());
}

// Each rank's tensors, the same on either backend.
std::vector<at::Tensor> RankTensors(int rank, const at::TensorOptions& options) {
  at::Generator gen = at::detail::createCPUGenerator(100 + rank);
  std::vector<at::Tensor> out;
  for (int64_t n : {1000, 231, 5}) out.push_back(at::randn({n}, gen, at::kFloat).to(options));
  return out;
}

// Runs `body(rank)` on two threads and joins them.
template <typename F>
void OnTwoRanks(F body) {
  std::thread peer([&] { body(1); });
  body(0);
  peer.join();
}

TEST(NcclCollectiveTest, TwoRanksOnTwoGpusSumExactlyLikeTheHost) {
  ASSERT_TRUE(NcclCompiledIn());
  if (!at::hasCUDA() || at::getNumGPUs() < 2) {
    GTEST_SKIP() << "two NCCL ranks need two GPUs (NCCL refuses two ranks on one device); this machine has "
                 << (at::hasCUDA() ? at::getNumGPUs() : 0);
  }
  std::vector<at::Tensor> out[2];
  auto store = StoreServer::Start("127.0.0.1", 60);
  ASSERT_TRUE(store.ok()) << store.status();
  OnTwoRanks([&](int rank) {
    NcclOptions o;
    o.rendezvous.rank = rank;
    o.rendezvous.world_size = 2;
    o.rendezvous.master_port = (*store)->port();
    o.rendezvous.store_owner = StoreOwner::kExternal;
    o.device = rank;
    o.bucket_bytes = 2048;  // the 1000-float tensor alone, the rest together
    auto c = ConnectNccl(o);
    ASSERT_TRUE(c.ok()) << c.status();
    out[rank] = RankTensors(rank, at::TensorOptions().device(at::Device(at::kCUDA, rank)));
    ASSERT_TRUE((*c)->AllReduceSum(out[rank]).ok());
    ASSERT_TRUE((*c)->Barrier().ok());
  });
  const std::vector<at::Tensor> a = RankTensors(0, at::TensorOptions()), b = RankTensors(1, at::TensorOptions());
  for (int rank = 0; rank < 2; ++rank) {
    ASSERT_EQ(out[rank].size(), a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      // Two addends: one fp32 rounding, whatever the algorithm, so every
      // rank holds exactly the host's a + b.
      EXPECT_TRUE(at::equal(out[rank][i].cpu(), a[i] + b[i])) << "rank " << rank << " tensor " << i;
    }
  }
}

}  // namespace
}  // namespace ssd
