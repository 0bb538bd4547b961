// GPU-only (LABELS gpu; built when CMake enables CUDA). Needs a CUDA-enabled
// libtorch and a visible device; skips otherwise.
#include "trainer_worker/nccl_collective.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "trainer_worker/gloo_collective.h"

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

}  // namespace
}  // namespace ssd
