#include "common/model/flash_attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "common/model/attention.h"

namespace ssd {
namespace {

// max |a - b| / max |b|; where b is all zero (a one-token document's dq
// and dk), max |a - b| itself.
double RelativeDiff(const at::Tensor& a, const at::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  return (a - b).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
}

struct Grads {
  at::Tensor out, dq, dk, dv;
};

// out = attention(q, k, v); the gradients of sum(out * probe).
template <typename Fn>
Grads AttendAndBackward(Fn attend, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                        const at::Tensor& probe) {
  at::Tensor qq = q.clone().requires_grad_(true), kk = k.clone().requires_grad_(true);
  at::Tensor vv = v.clone().requires_grad_(true);
  at::Tensor out = attend(qq, kk, vv);
  (out * probe).sum().backward();
  return {out.detach(), qq.grad(), kk.grad(), vv.grad()};
}

void ExpectClose(const Grads& got, const Grads& want, const std::string& what) {
  EXPECT_LT(RelativeDiff(got.out, want.out), 1e-5) << what << ": output";
  EXPECT_LT(RelativeDiff(got.dq, want.dq), 1e-5) << what << ": dq";
  EXPECT_LT(RelativeDiff(got.dk, want.dk), 1e-5) << what << ": dk";
  EXPECT_LT(RelativeDiff(got.dv, want.dv), 1e-5) << what << ": dv";
}

class FlashAttentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    at::set_num_threads(2);
    at::manual_seed(5);
  }
  // GQA: 4 query heads over 2 kv heads. Scaled keys give peaked softmaxes,
  // where a wrong running max or rescale shows at once.
  void Make(int64_t T) {
    q_ = at::randn({1, 4, T, 16});
    k_ = at::randn({1, 2, T, 16}) * 2;
    v_ = at::randn({1, 2, T, 16});
    probe_ = at::randn({1, T, 4 * 16});
  }
  at::Tensor q_, k_, v_, probe_;
};

TEST_F(FlashAttentionTest, MatchesCausalMaskedAttentionAndItsGradientsAtTwoThousandTokensWithGqa) {
  const int64_t T = 2048;
  Make(T);
  const at::Tensor causal = at::ones({1, T, T}, at::kBool).tril();
  const Grads want =
      AttendAndBackward([&](auto q, auto k, auto v) { return Attend(q, k, v, causal); }, q_, k_, v_, probe_);
  ExpectClose(AttendAndBackward([](auto q, auto k, auto v) { return FlashAttention(q, k, v); }, q_, k_, v_, probe_),
              want, "block 512");
  // Blocks that do not divide T, and tiles that straddle the diagonal.
  ExpectClose(
      AttendAndBackward([](auto q, auto k, auto v) { return FlashAttention(q, k, v, 300); }, q_, k_, v_, probe_), want,
      "block 300");
}

TEST_F(FlashAttentionTest, PackedRowsKeepEachDocumentsCausalBoundary) {
  // Two rows of 2,048: documents of 1,300, 400 and 348 tokens, and one of 1,500
  // followed by 548 of padding (its own run). Runs over kFlashBlock take
  // the blockwise path, the others the masked one.
  const int64_t T = 2048;
  at::manual_seed(6);
  at::Tensor q = at::randn({2, 4, T, 16}), k = at::randn({2, 2, T, 16}) * 2, v = at::randn({2, 2, T, 16});
  at::Tensor probe = at::randn({2, T, 64});
  at::Tensor seg = at::zeros({2, T}, at::kLong);
  seg[0].narrow(0, 1300, 400).fill_(1);
  seg[0].narrow(0, 1700, 348).fill_(2);
  seg[1].narrow(0, 1500, 548).fill_(-1);
  const auto runs = SegmentRuns(seg);
  ASSERT_EQ(runs.size(), 2u);
  ASSERT_EQ(runs[0].size(), 3u);
  at::Tensor allowed = at::ones({T, T}, at::kBool).tril().unsqueeze(0) & (seg.unsqueeze(2) == seg.unsqueeze(1));
  const Grads want =
      AttendAndBackward([&](auto q, auto k, auto v) { return Attend(q, k, v, allowed); }, q, k, v, probe);
  const Grads got =
      AttendAndBackward([&](auto q, auto k, auto v) { return AttendRuns(q, k, v, runs); }, q, k, v, probe);
  ExpectClose(got, want, "packed rows");
  // No attention across documents: the second document's outputs do not
  // move when the first one's values change.
  at::Tensor v2 = v.clone();
  v2[0].narrow(1, 0, 1300).mul_(3);
  at::NoGradGuard no_grad;
  at::Tensor a = AttendRuns(q, k, v, runs), b = AttendRuns(q, k, v2, runs);
  EXPECT_TRUE(at::equal(a[0].narrow(0, 1300, 748), b[0].narrow(0, 1300, 748)));
  EXPECT_FALSE(at::equal(a[0].narrow(0, 0, 1300), b[0].narrow(0, 0, 1300)));
}

TEST_F(FlashAttentionTest, ShortDocumentsAndSingleBlocksAgreeToo) {
  for (int64_t T : {1, 7, 512, 513}) {
    Make(T);
    const at::Tensor causal = at::ones({1, T, T}, at::kBool).tril();
    ExpectClose(
        AttendAndBackward([](auto q, auto k, auto v) { return FlashAttention(q, k, v, 64); }, q_, k_, v_, probe_),
        AttendAndBackward([&](auto q, auto k, auto v) { return Attend(q, k, v, causal); }, q_, k_, v_, probe_),
        "T " + std::to_string(T));
  }
}

TEST_F(FlashAttentionTest, RecomputingGivesBitwiseTheSameResult) {
  Make(1100);
  auto once =
      AttendAndBackward([](auto q, auto k, auto v) { return FlashAttention(q, k, v, 256); }, q_, k_, v_, probe_);
  auto again =
      AttendAndBackward([](auto q, auto k, auto v) { return FlashAttention(q, k, v, 256); }, q_, k_, v_, probe_);
  EXPECT_TRUE(at::equal(once.out, again.out));
  EXPECT_TRUE(at::equal(once.dq, again.dq));
  EXPECT_TRUE(at::equal(once.dk, again.dk));
}

}  // namespace
}  // namespace ssd
