#include "common/model/moe_routing.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

namespace ssd {
namespace cpu {
namespace {

// RouteRow against ATen's softmax and topk, the ops transformers runs.
TEST(MoeRoutingTest, RouteRowPicksTransformersTopKAndWeights) {
  at::manual_seed(3);
  const int64_t E = 16, k = 4;
  for (bool norm : {false, true}) {
    for (int trial = 0; trial < 20; ++trial) {
      at::Tensor logits = 2 * at::randn({E});
      at::Tensor probs = at::softmax(logits, -1);
      auto top = at::topk(probs, k);
      at::Tensor want_w = std::get<0>(top);
      if (norm) want_w = want_w / want_w.sum();
      std::vector<float> scratch(E), w(k);
      std::vector<int32_t> ids(k);
      RouteRow(logits.data_ptr<float>(), E, k, norm, scratch.data(), ids.data(), w.data());
      for (int64_t j = 0; j < k; ++j) {
        EXPECT_EQ(ids[j], std::get<1>(top)[j].item<int64_t>()) << "choice " << j << " trial " << trial;
        EXPECT_NEAR(w[j], want_w[j].item<float>(), 1e-6) << "choice " << j << " trial " << trial;
      }
    }
  }
}

TEST(MoeRoutingTest, TiedProbabilitiesGoToTheLowerExpertIndex) {
  const float logits[4] = {1.0f, 3.0f, 3.0f, 0.0f};
  float scratch[4], w[2];
  int32_t ids[2];
  RouteRow(logits, 4, 2, /*norm_topk_prob=*/true, scratch, ids, w);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(ids[1], 2);
  EXPECT_FLOAT_EQ(w[0], 0.5f);
  EXPECT_FLOAT_EQ(w[1], 0.5f);
}

TEST(MoeRoutingTest, GroupByExpertListsEachExpertsAssignmentsInRowOrder) {
  // 3 rows, k = 2, E = 4: row 0 -> {2, 0}, row 1 -> {0, 3}, row 2 -> {2, 0}.
  const int32_t experts[6] = {2, 0, 0, 3, 2, 0};
  std::vector<int64_t> offsets, order, slot;
  GroupByExpert(experts, 3, 2, 4, &offsets, &order, &slot);
  EXPECT_EQ(offsets, (std::vector<int64_t>{0, 3, 3, 5, 6}));
  EXPECT_EQ(order, (std::vector<int64_t>{1, 2, 5, 0, 4, 3}));
  for (int64_t p = 0; p < 6; ++p) EXPECT_EQ(slot[order[p]], p);
}

TEST(MoeRoutingTest, CombineSumsInAscendingExpertOrderFromZero) {
  // Row with choices (expert 5, w 0.25) then (expert 1, w 0.75): expert 1's
  // term is added first, as transformers' per-expert index_add_ does.
  const int32_t experts[2] = {5, 1};
  const float weights[2] = {0.25f, 0.75f};
  const int64_t slot[2] = {1, 0};
  const float y[2 * 3] = {1e8f, 1.0f, 2.0f, -1e8f, 3.0f, 4.0f};  // slot 0 = expert 1, slot 1 = expert 5
  float out[3];
  CombineExpertRow(experts, weights, slot, 2, y, 3, 3, out);
  EXPECT_FLOAT_EQ(out[0], (0.0f + 1e8f * 0.75f) + -1e8f * 0.25f);
  EXPECT_FLOAT_EQ(out[1], 0.75f + 0.75f);
  EXPECT_FLOAT_EQ(out[2], 1.5f + 1.0f);
}

}  // namespace
}  // namespace cpu
}  // namespace ssd
