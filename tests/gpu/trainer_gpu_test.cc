// GPU checks of the SFT trainer (LABELS gpu): bf16 autocast over fp32
// master weights on CUDA against the CPU fp32 trainer, and the trainer
// driven through a one-rank NCCL collective. Built in every build; skips
// unless this libtorch has CUDA and a device is visible. (Two NCCL ranks
// need two GPUs: nccl_collective_test checks them against Gloo there.)
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/model/autocast.h"
#include "common/model/test_models.h"
#include "tests/testing/temp_dir.h"
#include "trainer_worker/nccl_collective.h"
#include "trainer_worker/rendezvous.h"
#include "trainer_worker/trainer.h"

namespace ssd {
namespace {

bool HaveCuda() { return at::hasCUDA() && at::getNumGPUs() > 0; }

// 40 conversations of 8..30 tokens over the 97-token vocabulary of
// TinyConfig: each token is the previous one plus a per-conversation stride,
// so the loss can fall; the first quarter of each is prompt (no loss).
std::vector<TokenizedExample> StrideExamples() {
  std::vector<TokenizedExample> out;
  for (int i = 0; i < 40; ++i) {
    TokenizedExample ex;
    const int len = 8 + (i * 7) % 23, stride = 1 + i % 5;
    for (int t = 0; t < len; ++t) {
      ex.ids.push_back(static_cast<int32_t>((i * 13 + t * stride) % 97));
      ex.loss_mask.push_back(t >= len / 4 ? 1 : 0);
    }
    out.push_back(std::move(ex));
  }
  return out;
}

class TrainerGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveCuda()) GTEST_SKIP() << "this libtorch has no CUDA or no device is visible (tests/gpu/run.sh)";
  }

  TrainerOptions Options(const std::string& out, const std::string& device) const {
    TrainerOptions o;
    o.out_dir = dir_ + "/" + out;
    o.device = device;
    o.epochs = 4;
    o.max_seq_len = 32;
    o.batching.micro_batch_tokens = 64;
    o.batching.batch_tokens = 256;
    o.batching.seed = 11;
    o.lr = 3e-3;
    o.warmup_steps = 2;
    o.adamw.weight_decay = 0.01;
    o.progress = false;
    return o;
  }

  std::unique_ptr<Trainer> Make(const TrainerOptions& o, Collective* c) {
    DecoderOptions dopts;
    if (o.device != "cpu") dopts.device = at::Device(at::kCUDA, 0);  // fp32 masters; autocast computes in bf16
    auto model = Decoder::RandomInit(TinyConfig(ModelArch::kQwen3), /*seed=*/5, 0.02, dopts);
    EXPECT_TRUE(model.ok()) << model.status();
    if (!model.ok()) return nullptr;
    auto t = Trainer::FromModel(o, std::move(*model), DatasetFromExamples(StrideExamples()), c);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? std::move(*t) : nullptr;
  }

  static std::vector<double> Losses(Trainer& t) {
    std::vector<double> out;
    while (t.step() < t.total_steps()) {
      auto m = t.Step();
      EXPECT_TRUE(m.ok()) << m.status();
      if (!m.ok()) break;
      out.push_back(m->loss);
    }
    return out;
  }

  // max |a - b| / max |b| over each parameter, the worst one.
  static double MaxRelativeDiff(const Trainer& a, const Trainer& b) {
    const NamedTensors pa = a.model().Parameters(), pb = b.model().Parameters();
    double worst = 0;
    for (size_t i = 0; i < pa.size(); ++i) {
      at::Tensor x = pa[i].second.detach().to(at::kCPU), y = pb[i].second.detach().to(at::kCPU);
      worst = std::max(worst, (x - y).abs().max().item<double>() / y.abs().max().item<double>());
    }
    return worst;
  }

  ScopedTempDir tmp_{"trainer_gpu_test"};
  std::string dir_ = tmp_.path();
};

TEST_F(TrainerGpuTest, Bf16AutocastOnCudaTracksTheFp32CpuLossCurve) {
  auto cpu = Make(Options("cpu", "cpu"), nullptr);
  auto gpu = Make(Options("gpu", "cuda"), nullptr);
  ASSERT_TRUE(cpu && gpu);
  const std::vector<double> lc = Losses(*cpu), lg = Losses(*gpu);
  ASSERT_EQ(lc.size(), lg.size());
  ASSERT_GE(lc.size(), 8u);
  double worst = 0;
  for (size_t s = 0; s < lc.size(); ++s) worst = std::max(worst, std::abs(lg[s] - lc[s]) / lc[s]);
  std::printf(
      "[ trainer ] %zu steps, loss %.4f -> %.4f (CPU fp32) vs %.4f -> %.4f (CUDA bf16 autocast); worst "
      "relative loss gap %.3g; weights' worst relative gap %.3g\n",
      lc.size(), lc.front(), lc.back(), lg.front(), lg.back(), worst, MaxRelativeDiff(*gpu, *cpu));
  // bf16 matmuls move each step's loss by well under a percent; a few
  // percent after the updates compound.
  EXPECT_LT(worst, 0.03);
  EXPECT_LT(lg.back(), 0.95 * lg.front()) << "the loss did not fall on the GPU";
  // Master weights stay fp32 on the device.
  for (const auto& [name, p] : gpu->model().Parameters()) {
    EXPECT_TRUE(p.is_cuda()) << name;
    EXPECT_EQ(p.scalar_type(), at::kFloat) << name;
  }
}

TEST_F(TrainerGpuTest, OneRankNcclCollectiveTrainsLikeNoCollective) {
  ASSERT_TRUE(NcclCompiledIn()) << "a CUDA libtorch build must compile the NCCL path (SSD_HAVE_CUDA)";
  auto store = StoreServer::Start("127.0.0.1", 60);
  ASSERT_TRUE(store.ok()) << store.status();
  NcclOptions no;
  no.rendezvous.master_port = (*store)->port();
  no.rendezvous.store_owner = StoreOwner::kExternal;
  no.bucket_bytes = 4096;  // several buckets for a model this small
  auto nccl = ConnectNccl(no);
  ASSERT_TRUE(nccl.ok()) << nccl.status();
  auto plain = Make(Options("plain", "cuda"), nullptr);
  auto through = Make(Options("nccl", "cuda"), nccl->get());
  ASSERT_TRUE(plain && through);
  const std::vector<double> lp = Losses(*plain), ln = Losses(*through);
  ASSERT_EQ(lp.size(), ln.size());
  // One rank's sum is its own gradient: only CUDA's atomics in the
  // embedding backward may reorder a sum, so the runs agree to fp32 noise.
  for (size_t s = 0; s < lp.size(); ++s) EXPECT_NEAR(ln[s], lp[s], 1e-4 * lp[s]) << "step " << s;
  EXPECT_LT(MaxRelativeDiff(*through, *plain), 1e-4);
}

// Full sharding (ZeRO-3) at world size 1 through a real NCCL collective:
// every layer gathered and freed around its forward and backward, its
// gradients reduce-scattered, AdamW on the flat shard; against the plain
// trainer on the same GPU, both under bf16 autocast with fp32 masters.
TEST_F(TrainerGpuTest, FullShardingOverOneNcclRankTrainsLikePlainTraining) {
  auto store = StoreServer::Start("127.0.0.1", 60);
  ASSERT_TRUE(store.ok()) << store.status();
  NcclOptions no;
  no.rendezvous.master_port = (*store)->port();
  no.rendezvous.store_owner = StoreOwner::kExternal;
  auto nccl = ConnectNccl(no);
  ASSERT_TRUE(nccl.ok()) << nccl.status();
  for (int every : {0, 1}) {
    TrainerOptions po = Options("plain_ac" + std::to_string(every), "cuda");
    po.activation_checkpointing.every = every;
    TrainerOptions so = po;
    so.out_dir = dir_ + "/full_ac" + std::to_string(every);
    so.sharding = ShardingMode::kFull;
    auto plain = Make(po, nullptr);
    auto sharded = Make(so, nccl->get());
    ASSERT_TRUE(plain && sharded);
    const std::vector<double> lp = Losses(*plain), ls = Losses(*sharded);
    ASSERT_EQ(lp.size(), ls.size());
    for (size_t s = 0; s < lp.size(); ++s) EXPECT_NEAR(ls[s], lp[s], 1e-3 * lp[s]) << "step " << s;
    const NamedTensors a = sharded->FullParameters().value(), b = plain->FullParameters().value();
    double diff = 0, scale = 0;
    for (size_t i = 0; i < b.size(); ++i) {
      diff = std::max(diff, (a[i].second - b[i].second).abs().max().item<double>());
      scale = std::max(scale, b[i].second.abs().max().item<double>());
    }
    std::printf(
        "[ sharding ] full at world 1 over NCCL, checkpointing every %d: %zu steps, loss %.4f -> %.4f "
        "(plain %.4f -> %.4f), weights' relative gap %.3g\n",
        every, ls.size(), ls.front(), ls.back(), lp.front(), lp.back(), diff / scale);
    EXPECT_LT(diff / scale, 1e-3);
  }
}

// Gradients of one long packed row (documents of 1,100 and 300 tokens:
// the first over kFlashBlock) under bf16 autocast, the backward outside
// the autocast scope as the trainer runs it.
std::vector<at::Tensor> LongRowGrads(bool long_context_path) {
  DecoderOptions o;
  o.device = at::Device(at::kCUDA, 0);
  o.blockwise_attention = long_context_path;  // SDPA on CUDA, else the masked attention
  ModelConfig c = TinyConfig(ModelArch::kQwen3);
  c.num_hidden_layers = 3;
  auto model = Decoder::RandomInit(c, /*seed=*/7, 0.02, o).value();
  for (auto& [name, p] : model->Parameters()) p.requires_grad_(true);
  at::manual_seed(3);
  at::Tensor ids = at::randint(c.vocab_size, {1, 1400}, at::kLong);
  at::Tensor targets = ids.roll(-1, 1).clone();
  ActivationCheckpointing ac;
  ac.every = long_context_path ? 1 : 0;
  at::Tensor loss;
  {
    AutocastScope autocast(Autocast::kCuda);
    at::Tensor hidden = model->ForwardHidden(ids, AttentionLayout::Packed({{1100, 300}}, 1400), ac);
    loss = TokenLossSum(*model, hidden, targets);
  }
  loss.backward();
  std::vector<at::Tensor> out = {loss.detach().to(at::kCPU)};
  for (auto& [name, p] : model->Parameters()) out.push_back(p.grad().to(at::kCPU));
  return out;
}

TEST(LongContextGpuTest, CheckpointingAndSdpaAttentionTrackTheEagerPathInBf16) {
  if (!HaveCuda()) GTEST_SKIP() << "this libtorch has no CUDA or no device is visible (tests/gpu/run.sh)";
  const std::vector<at::Tensor> eager = LongRowGrads(false), fast = LongRowGrads(true);
  ASSERT_EQ(eager.size(), fast.size());
  const double loss_gap = std::abs(fast[0].item<double>() - eager[0].item<double>()) / eager[0].item<double>();
  double worst = 0;
  for (size_t i = 1; i < eager.size(); ++i) {
    worst = std::max(worst, (fast[i] - eager[i]).abs().max().item<double>() / eager[i].abs().max().item<double>());
  }
  std::printf("[ long context ] bf16: loss gap %.3g, worst relative gradient gap %.3g\n", loss_gap, worst);
  // Both run bf16 matmuls; SDPA's kernels and the recompute reorder sums.
  EXPECT_LT(loss_gap, 1e-2);
  EXPECT_LT(worst, 5e-2);
}

}  // namespace
}  // namespace ssd
