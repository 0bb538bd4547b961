#include "trainer_worker/chunked_loss.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <string>

namespace ssd {
namespace {

// ‖a - b‖ / ‖b‖, the relative error of the whole gradient.
double RelativeDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).norm().item<double>() / b.norm().item<double>();
}

struct Result {
  double loss;
  at::Tensor dh, dw;
};

// The reference: the whole [n, V] logits at once, PyTorch's cross-entropy.
Result Whole(const at::Tensor& h, const at::Tensor& w, const at::Tensor& t, double e) {
  at::Tensor hh = h.detach().clone().requires_grad_(true), ww = w.detach().clone().requires_grad_(true);
  at::Tensor loss = at::cross_entropy_loss(at::linear(hh, ww), t, {}, at::Reduction::Sum, -100, e);
  (loss * 0.25).backward();  // a grad_output other than 1 reaches the chunks
  return {loss.item<double>(), hh.grad(), ww.grad()};
}

// recompute_above_bytes 0: every chunk recomputes in backward; the default
// keeps this test's small logits instead.
Result Chunked(const at::Tensor& h, const at::Tensor& w, const at::Tensor& t, double e, int64_t rows,
               int64_t recompute_above_bytes = 0) {
  at::Tensor hh = h.detach().clone().requires_grad_(true), ww = w.detach().clone().requires_grad_(true);
  at::Tensor loss = ChunkedCrossEntropySum(hh, ww, t, e, rows, recompute_above_bytes);
  (loss * 0.25).backward();
  return {loss.item<double>(), hh.grad(), ww.grad()};
}

class ChunkedLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    at::set_num_threads(1);
    at::manual_seed(7);
    h_ = at::randn({300, 32}) * 3;  // peaked distributions: smoothing matters
    w_ = at::randn({1000, 32});
    t_ = at::randint(1000, {300}, at::kLong);
  }
  at::Tensor h_, w_, t_;
};

TEST_F(ChunkedLossTest, MatchesTheWholeLossAndBothGradientsAcrossUnevenChunks) {
  for (double e : {0.0, 0.1}) {
    const Result whole = Whole(h_, w_, t_, e);
    for (int64_t rows : {64, 7, 300, 1000}) {
      for (int64_t above : {int64_t{0}, kRecomputeLogitsAboveBytes}) {
        const Result chunked = Chunked(h_, w_, t_, e, rows, above);
        const std::string what = "rows " + std::to_string(rows) + (above == 0 ? ", recomputed" : ", kept") +
                                 ", smoothing " + std::to_string(e);
        EXPECT_NEAR(chunked.loss, whole.loss, 1e-6 * whole.loss) << what;
        EXPECT_LT(RelativeDiff(chunked.dh, whole.dh), 1e-6) << what;
        EXPECT_LT(RelativeDiff(chunked.dw, whole.dw), 1e-6) << what;
      }
    }
  }
}

TEST_F(ChunkedLossTest, TheSmoothedLossIsTheDefinitionWrittenOutInDoublePrecision) {
  const double e = 0.2;
  at::Tensor logp = at::log_softmax(at::linear(h_.to(at::kDouble), w_.to(at::kDouble)), -1);
  at::Tensor nll = -logp.gather(1, t_.unsqueeze(1)).squeeze(1);
  const double expected = ((1 - e) * nll - e * logp.mean(-1)).sum().item<double>();
  EXPECT_NEAR(Chunked(h_, w_, t_, e, 64).loss, expected, 1e-6 * expected);
}

TEST_F(ChunkedLossTest, OnlyTheInputsThatNeedAGradientGetOne) {
  at::Tensor h = h_.clone().requires_grad_(true);
  at::Tensor w = w_.clone();  // frozen lm_head
  ChunkedCrossEntropySum(h, w, t_, 0, 64, /*recompute_above_bytes=*/0).backward();
  EXPECT_TRUE(h.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  at::Tensor h2 = h_.clone();
  at::Tensor w2 = w_.clone().requires_grad_(true);
  ChunkedCrossEntropySum(h2, w2, t_, 0, 64, /*recompute_above_bytes=*/0).backward();
  EXPECT_LT(RelativeDiff(w2.grad(), Whole(h_, w_, t_, 0).dw * 4), 1e-6);
}

TEST_F(ChunkedLossTest, NoRowsGiveAZeroLossWithZeroGradients) {
  at::Tensor h = at::zeros({0, 32}).requires_grad_(true);
  at::Tensor loss = ChunkedCrossEntropySum(h, w_, at::zeros({0}, at::kLong), 0);
  loss.backward();
  EXPECT_EQ(loss.item<float>(), 0.0f);
}

TEST(LossChunkRowsTest, AChunksLogitsTakeNoMoreThanTheHiddenStatesOr16MiB) {
  // Qwen3-4B at 65,536 target tokens: [n, H] = 65,536 x 2,560 floats, so a
  // chunk has n * H / V = 1,105 rows (671 MB of fp32 logits, not 40 GB).
  EXPECT_EQ(LossChunkRows(65536, 2560, 151936), 1105);
  // A small model: the 16 MiB floor (4,194,304 floats over V = 32,000).
  EXPECT_EQ(LossChunkRows(300, 32, 32000), 131);
  // Never fewer than 64 rows per matmul.
  EXPECT_EQ(LossChunkRows(10, 8, 1 << 20), 64);
}

}  // namespace
}  // namespace ssd
